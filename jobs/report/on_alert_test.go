package report_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/jobs/report"
)

// on: alert writes the CSV only on runs where the alert holds: a run
// whose windows all stay under the threshold leaves nothing behind, one
// above it writes the CSV as always.
func TestOnAlertWritesOnlyWhenTheAlertHolds(t *testing.T) {
	f := newFixture(t, 900)
	out := t.TempDir()
	at := t0.Add(3 * time.Hour)
	run := func(name, threshold string) (map[string]int64, error) {
		job, err := report.NewJob(name, report.JobOptions{Report: f.reports["error_alert"], OnlyOnAlert: true, Engine: f.cat, OutDir: out,
			Params: map[string]string{"window": "10m", "threshold": threshold, "start": "now-3h"}})
		require.NoError(t, err)
		return job.Run(context.Background(), at)
	}

	stats, err := run("quiet", "1000")
	require.NoError(t, err)
	require.Positive(t, stats["rows"], "the report ran and had rows")
	require.Zero(t, stats["alert_rows"])
	_, err = os.Stat(filepath.Join(out, "quiet"))
	require.True(t, os.IsNotExist(err), "no CSV when the alert does not hold")

	stats, err = run("loud", "4")
	require.NoError(t, err)
	require.Positive(t, stats["alert_rows"])
	latest, err := os.ReadFile(filepath.Join(out, "loud", "latest.csv"))
	require.NoError(t, err)
	require.Contains(t, string(latest), "window_start,lines,errors,warnings,infos,debugs,others")

	_, err = report.NewJob("hosts", report.JobOptions{Report: f.reports["host_breakdown"], OnlyOnAlert: true, Engine: f.cat, OutDir: out})
	require.ErrorContains(t, err, "on: alert, but report host_breakdown has no alert condition")
}
