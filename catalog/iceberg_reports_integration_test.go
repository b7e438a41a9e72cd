//go:build integration

package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestReportsOnIcebergAndHiveIdenticalIntegration: every shipped report
// gives byte-identical CSV on the Hive tables of a lake and on Iceberg
// tables of the same rows (copied by Trino into tables partitioned by
// hour(event_time), with microsecond timestamps and no dt/hour columns,
// as silt's Iceberg tables are). The reports name no partition column, so
// they run unchanged on both formats.
func TestReportsOnIcebergAndHiveIdenticalIntegration(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	ep := stacktest.Get(t)
	iceberg := icebergCatalogOf(t, ep)
	tl := newTrinoLake(t)
	hive := tl.open(t)
	events := catalogtest.Generate(11, 800, t0, 3*time.Hour)
	changes, err := catalogtest.Write(ctx, tl.store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	require.NoError(t, hive.Register(ctx, changes))

	schema := tl.schema + "_ice"
	ice, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: iceberg, Schema: schema, Location: ep.TrinoSchemaLocation + schema + "/",
	}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ice.Close()) })
	hiveCols, err := hive.Columns(ctx)
	require.NoError(t, err)
	partitionKeys := map[string]bool{}
	for _, c := range lake.PartitionColumns {
		partitionKeys[c.Name] = true
	}
	for table, cols := range hiveCols {
		var sel []string
		for _, c := range cols {
			switch {
			case partitionKeys[c.Name]:
			case c.Type == lake.TypeTimestamp:
				sel = append(sel, fmt.Sprintf("CAST(%s AS timestamp(6)) AS %s", catalog.Quote(c.Name), catalog.Quote(c.Name)))
			default:
				sel = append(sel, catalog.Quote(c.Name))
			}
		}
		q := fmt.Sprintf("CREATE TABLE %s WITH (format = 'PARQUET', format_version = 2, partitioning = ARRAY['hour(event_time)']) AS SELECT %s FROM %s",
			ice.Qualified(table), strings.Join(sel, ", "), hive.Qualified(table))
		_, err := ice.DB().ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	iceCols, err := ice.Columns(ctx)
	require.NoError(t, err)
	require.Len(t, iceCols, len(hiveCols))
	for _, c := range iceCols["purchase_sword"] {
		require.False(t, partitionKeys[c.Name], "the Iceberg table has no %s column", c.Name)
	}

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	params := map[string]map[string]string{
		"host_breakdown":         {"start": "2024-05-01 10:20", "end": "2024-05-01 12:40"},
		"event_counts_by_window": {"window_minutes": "7", "start": "now-3h"},
		"error_alert":            {"window_minutes": "10", "threshold": "3", "start": "now-3h"},
		"moving_average":         {"previous_rows": "3", "start": "now-3h"},
		"window_average":         {"table": "purchase_sword", "key": "host", "value": "price", "window": "7m", "previous_windows": "2", "start": "now-3h"},
	}
	for _, name := range reportsql.Names(reports) {
		onHive, n := runCSV(t, hive, reports[name], params[name])
		onIceberg, _ := runCSV(t, ice, reports[name], params[name])
		require.Greater(t, n, 2, "%s: the report has rows to compare", name)
		require.Equal(t, onHive, onIceberg, "%s: Hive and Iceberg tables differ", name)
		t.Logf("%s: %d rows identical", name, n)
	}
}
