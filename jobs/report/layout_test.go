package report_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

// A report's lake table in a lake written year=/month=/day=/hour= is
// written and registered in that layout, like ingest's tables.
func TestReportTableOnYearMonthDayHour(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cat, err := catalog.Open(ctx, catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb"), Layout: lake.YearMonthDayHour}, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, cat.Close()) }()
	changes, err := catalogtest.WriteLayout(ctx, store, lake.YearMonthDayHour, []lake.TableSchema{tickSchema}, sinkTicks(), 0)
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	job, err := report.NewJob("tick_avg", report.JobOptions{
		Report: reports["window_average"], Engine: cat, OutDir: t.TempDir(),
		Params: map[string]string{"table": "tick", "key": "symbol", "value": "price", "window": "10s", "previous_windows": "2"},
		Table:  &report.TableOptions{Name: "tick_averages", Store: store, Registrar: cat, Unit: lake.Millis, SpoolDir: t.TempDir(), Layout: lake.YearMonthDayHour},
	})
	require.NoError(t, err)
	stats, err := job.Run(ctx, t0.Add(20*time.Minute))
	require.NoError(t, err)
	require.Positive(t, stats["table_rows"])

	objs, err := store.List(ctx, "tick_averages/")
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	for _, o := range objs {
		require.True(t, strings.HasPrefix(o.Key, "tick_averages/year=2024/month=05/day=01/hour=10/"), o.Key)
	}
	var n int64
	require.NoError(t, cat.DB().QueryRowContext(ctx, "SELECT count(*) FROM tick_averages WHERE year = '2024' AND month = '05' AND day = '01' AND hour = '10'").Scan(&n))
	require.Equal(t, stats["table_rows"], n)
}
