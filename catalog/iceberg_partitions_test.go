package catalog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// An Iceberg hour(event_time) partition value counts hours since the
// epoch; silt tables shows it as the lake partition of that hour, in the
// deployment's layout.
func TestIcebergHourPartitionIsTheLakeHour(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	hours := at.Unix() / 3600
	require.Equal(t, "dt=2026-11-30/hour=23", icebergHourPartition(lake.DtHour, "join_guild", hours).Dir())
	require.Equal(t, "year=2026/month=11/day=30/hour=23", icebergHourPartition(lake.YearMonthDayHour, "join_guild", hours).Dir())
	require.Equal(t, "join_guild/dt=2026-12-01/hour=00", icebergHourPartition(lake.DtHour, "join_guild", hours+1).String())
}

// A catalog of Iceberg tables refuses Hive registration and partition
// drops with an error naming table_format iceberg, before any statement
// reaches Trino (the backend here has no connection at all).
func TestIcebergCatalogRefusesHiveRegistration(t *testing.T) {
	c := &Catalog{be: &trinoBackend{iceberg: true, layout: lake.DtHour}, layout: lake.DtHour}
	p := lake.DtHour.PartitionOf("join_guild", time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC))
	err := c.Register(t.Context(), []Change{{Schema: lake.TableSchema{Table: "join_guild"}, Partitions: []lake.Partition{p}}})
	require.ErrorContains(t, err, "table_format is iceberg")
	require.ErrorContains(t, c.DropPartitions(t.Context(), "join_guild", []lake.Partition{p}), "table_format is iceberg")
	require.NoError(t, c.Register(t.Context(), nil), "nothing to register is no error")
}
