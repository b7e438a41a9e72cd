package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/scheduler"
)

func TestPrintJobsFromPersistedHistory(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	h, err := scheduler.OpenHistory(ctx, store, 0)
	require.NoError(t, err)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, st := range []string{scheduler.StatusOK, scheduler.StatusFailed} {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		r := scheduler.Run{Job: "ingest", Scheduled: at, Start: at, End: at.Add(250 * time.Millisecond), Status: st, Attempts: 1 + i*2}
		if st == scheduler.StatusOK {
			r.Counts = map[string]int64{"events": 1000, "files": 3, "lag": 0}
		} else {
			r.Error = "kafka: broker unreachable"
		}
		require.NoError(t, h.Record(ctx, r))
	}
	// `silt jobs` is a separate process: it reads what silt run persisted.
	h, err = scheduler.OpenHistory(ctx, store, 0)
	require.NoError(t, err)

	jobs := []config.Job{
		{Name: "ingest", Kind: "ingest", Schedule: "@every 5s"},
		{Name: "daily", Kind: "report", Schedule: "0 6 * * *", After: "ingest"},
		{Name: "register", Kind: "register", After: "ingest"},
	}
	var out strings.Builder
	require.NoError(t, printJobs(&out, jobs, time.UTC, h, t0.Add(10*time.Second), 5))
	got := out.String()
	for _, want := range []string{
		"ingest    ingest    @every 5s                     2024-03-01 12:00:15  2024-03-01 12:00:00",
		"daily     report    0 6 * * *, then after ingest  2024-03-02 06:00:00  never",
		"register  register  after ingest                  -                    never",
		"ingest: last 2 runs",
		"failed  2024-03-01 12:00:05  2024-03-01 12:00:05  250ms     3         error: kafka: broker unreachable",
		"ok      2024-03-01 12:00:00  2024-03-01 12:00:00  250ms     1         events=1000 files=3",
		"daily: no runs recorded",
	} {
		require.Contains(t, got, want)
	}
	require.Less(t, strings.Index(got, "failed"), strings.Index(got, "ok      2024"), "newest first")
}

// Next runs are computed in scheduler.timezone, as silt run evaluates them,
// unless a schedule names its own zone with CRON_TZ=.
func TestPrintJobsNextRunInTheConfiguredTimezone(t *testing.T) {
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	h, err := scheduler.OpenHistory(context.Background(), store, 0)
	require.NoError(t, err)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	jobs := []config.Job{
		{Name: "morning", Kind: "report", Report: "x", Schedule: "0 6 * * *"},
		{Name: "ny", Kind: "report", Report: "x", Schedule: "CRON_TZ=America/New_York 0 6 * * *"},
		{Name: "tick", Kind: "ingest", Schedule: "@every 5s"},
	}
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var out strings.Builder
	require.NoError(t, printJobs(&out, jobs, paris, h, now, 1))
	got := out.String()
	require.Contains(t, got, "2024-03-02 05:00:00", "06:00 in Paris (UTC+1 in March) is 05:00 UTC")
	require.Contains(t, got, "2024-03-02 11:00:00", "CRON_TZ wins: 06:00 in New York (UTC-5) is 11:00 UTC")
	require.Contains(t, got, "2024-03-01 12:00:05", "@every ignores zones")

	out.Reset()
	require.NoError(t, printJobs(&out, jobs, time.UTC, h, now, 1))
	require.Contains(t, out.String(), "2024-03-02 06:00:00")
}
