package report_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

// A report over every event table that stores its rows in a table of its
// own does not count those rows as events of its table's name on later
// runs: the table is marked as the job's in the lake, and {{events}}
// leaves it out.
func TestReportOverEveryEventTableLeavesOutItsOwnTable(t *testing.T) {
	ctx := t.Context()
	store, cat := newDuckCatalog(t)
	changes, err := catalogtest.Write(ctx, store, []lake.TableSchema{tickSchema}, sinkTicks(), 0)
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	job, err := report.NewJob("counts_10s", report.JobOptions{
		Report: reports["event_counts_by_window"], Engine: cat, OutDir: t.TempDir(),
		Params: map[string]string{"window": "10s"},
		Table:  &report.TableOptions{Name: "counts_10s", Store: store, Registrar: cat, Unit: lake.Millis, SpoolDir: t.TempDir(), Layout: lake.DtHour},
	})
	require.NoError(t, err)
	// The first run creates the table; the next ones could read it back.
	for range 3 {
		_, err := job.Run(ctx, t0.Add(20*time.Minute))
		require.NoError(t, err)
	}

	schema, ok, err := lake.LoadSchema(ctx, store, "counts_10s")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "counts_10s", schema.Report, "the table is marked as the job's output")

	rows, err := cat.DB().QueryContext(ctx, "SELECT event_type, sum(events) FROM counts_10s GROUP BY 1 ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	got := map[string]int64{}
	for rows.Next() {
		var typ string
		var n int64
		require.NoError(t, rows.Scan(&typ, &n))
		got[typ] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int64{"tick": int64(len(sinkTicks()))}, got, "only the ticks are events")
}

// The watermark of a report over every event table is the newest event,
// not the newest row of a report's table (whose windows may run ahead).
func TestWatermarkOfEveryEventTableLeavesOutReportTables(t *testing.T) {
	ctx := t.Context()
	store, cat := newDuckCatalog(t)
	ticks := sinkTicks()
	ahead := lake.TableSchema{Table: "forecast", Report: "forecast_job", Columns: []lake.Column{{Name: "symbol", Type: lake.TypeVarchar}}}
	events := append(ticks, catalogtest.Event{Table: "forecast", Time: t0.Add(time.Hour), Fields: map[string]any{"symbol": "AAA"}})
	changes, err := catalogtest.Write(ctx, store, []lake.TableSchema{tickSchema, ahead}, events, 0)
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))

	newestTick := ticks[0].Time
	for _, e := range ticks {
		if e.Time.After(newestTick) {
			newestTick = e.Time
		}
	}
	newest, ok, err := report.NewestEventTime(ctx, cat, "")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, newestTick, newest.UTC(), "the newest tick, not the report table's row an hour later")

	newest, ok, err = report.NewestEventTime(ctx, cat, "forecast")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, t0.Add(time.Hour), newest.UTC(), "a report table named as the watermark's table is still read")
}

// A report job given an event type's table as its own is refused before
// it marks the table: a mark would hide the event type from every place
// meaning "every event table".
func TestReportTableNamedAfterAnEventTypeIsRefusedUnmarked(t *testing.T) {
	ctx := t.Context()
	store, cat := newDuckCatalog(t)
	changes, err := catalogtest.Write(ctx, store, []lake.TableSchema{tickSchema}, sinkTicks(), 0)
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	job, err := report.NewJob("counts_10s", report.JobOptions{
		Report: reports["event_counts_by_window"], Engine: cat, OutDir: t.TempDir(),
		Params: map[string]string{"window": "10s"},
		Table:  &report.TableOptions{Name: "tick", Store: store, Registrar: cat, Unit: lake.Millis, SpoolDir: t.TempDir(), Layout: lake.DtHour},
	})
	require.NoError(t, err)
	_, err = job.Run(ctx, t0.Add(20*time.Minute))
	require.ErrorContains(t, err, "which no report wrote")

	schema, _, err := lake.LoadSchema(ctx, store, "tick")
	require.NoError(t, err)
	require.Empty(t, schema.Report, "the event type's table stays unmarked")
}
