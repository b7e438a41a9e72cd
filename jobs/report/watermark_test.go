package report_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/jobs/report"
	reportsql "github.com/silt-etl/silt/sql"
)

func TestCloseWindows(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	ts := func(v any) string { return time.Time(v.(reportsql.Timestamp)).Format(time.RFC3339) }
	for _, c := range []struct {
		name               string
		start, end, newest string
		none               bool
		wantStart, wantEnd string
	}{
		{"closed by the watermark", "2026-01-01T10:00:07Z", "2026-01-01T11:00:00Z", "2026-01-01T10:05:44Z", false, "2026-01-01T10:00:00Z", "2026-01-01T10:05:10Z"},
		{"end earlier than the watermark", "2026-01-01T10:00:00Z", "2026-01-01T10:02:00Z", "2026-01-01T10:05:44Z", false, "2026-01-01T10:00:00Z", "2026-01-01T10:02:00Z"},
		{"watermark before start: nothing", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2026-01-01T09:00:00Z", false, "2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"},
		{"no event: nothing", "2026-01-01T10:00:03Z", "2026-01-01T11:00:00Z", "", true, "2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"},
	} {
		values := map[string]any{"start": reportsql.Timestamp(at(c.start)), "end": reportsql.Timestamp(at(c.end))}
		var newest time.Time
		if !c.none {
			newest = at(c.newest)
		}
		report.CloseWindows(values, 10*time.Second, newest, !c.none, 30*time.Second)
		require.Equal(t, c.wantStart, ts(values["start"]), c.name)
		require.Equal(t, c.wantEnd, ts(values["end"]), c.name)
	}
}

func TestWindowSize(t *testing.T) {
	d, ok := report.WindowSize(map[string]any{"window": reportsql.Duration(10 * time.Second), "window_minutes": reportsql.Int(5)})
	require.True(t, ok)
	require.Equal(t, 10*time.Second, d, "window wins over window_minutes")
	d, ok = report.WindowSize(map[string]any{"window": reportsql.Duration(0), "window_minutes": reportsql.Int(5)})
	require.True(t, ok)
	require.Equal(t, 5*time.Minute, d, "window 0s falls back to window_minutes")
	_, ok = report.WindowSize(map[string]any{"start": reportsql.Timestamp(time.Now())})
	require.False(t, ok)
}

// A watermark needs windows: on a report without one the job is refused
// at start-up, naming the reports that have them.
func TestWatermarkNeedsAWindowedReport(t *testing.T) {
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	_, cat := newDuckCatalog(t)
	_, err = report.NewJob("hosts", report.JobOptions{Report: reports["host_breakdown"], Engine: cat, OutDir: t.TempDir(),
		Watermark: &report.WatermarkOptions{AllowedLateness: time.Second}})
	require.ErrorContains(t, err, "job hosts: watermark: report host_breakdown needs a window")
	_, err = report.NewJob("counts", report.JobOptions{Report: reports["event_counts_by_window"], Engine: cat, OutDir: t.TempDir(),
		Params: map[string]string{"window": "1m"}, Watermark: &report.WatermarkOptions{AllowedLateness: time.Second}})
	require.NoError(t, err)
}
