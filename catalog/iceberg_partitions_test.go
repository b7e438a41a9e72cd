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
