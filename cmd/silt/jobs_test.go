package main

import (
	"context"
	"encoding/json"
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
	require.NoError(t, printJobs(&out, jobs, time.UTC, h, nil, t0.Add(10*time.Second), 5))
	got := out.String()
	for _, want := range []string{
		"ingest    ingest    @every 5s                     2024-03-01 12:00:15  2024-03-01 12:00:00",
		"daily     report    0 6 * * *, then after ingest  2024-03-02 06:00:00  never",
		"register  register  after ingest                  -                    never",
		"ingest: last 2 runs",
		"failed  2024-03-01 12:00:05  2024-03-01 12:00:05  250ms     3         -   error: kafka: broker unreachable",
		"ok      2024-03-01 12:00:00  2024-03-01 12:00:00  250ms     1         -   events=1000 files=3",
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
	require.NoError(t, printJobs(&out, jobs, paris, h, nil, now, 1))
	got := out.String()
	require.Contains(t, got, "2024-03-02 05:00:00", "06:00 in Paris (UTC+1 in March) is 05:00 UTC")
	require.Contains(t, got, "2024-03-02 11:00:00", "CRON_TZ wins: 06:00 in New York (UTC-5) is 11:00 UTC")
	require.Contains(t, got, "2024-03-01 12:00:05", "@every ignores zones")

	out.Reset()
	require.NoError(t, printJobs(&out, jobs, time.UTC, h, nil, now, 1))
	require.Contains(t, out.String(), "2024-03-02 06:00:00")
}

// Where each job runs: ingest on every process; a cluster-wide job on
// the process holding its lease (read from the lake as silt run left it),
// or the one that ran its last slot; each run names its process.
func TestPrintJobsShowsLeasesAndProcesses(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	h, err := scheduler.OpenHistory(ctx, store, 0)
	require.NoError(t, err)
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, h.Record(ctx, scheduler.Run{Job: "daily", Scheduled: t0, Start: t0, End: t0.Add(time.Second), Status: scheduler.StatusOK, Attempts: 1, Process: "silt-2"}))
	write := func(job string, l scheduler.Lease) {
		data, err := json.Marshal(l)
		require.NoError(t, err)
		_, err = store.Create(ctx, scheduler.LeaseKey(job), data)
		require.NoError(t, err)
	}
	write("daily", scheduler.Lease{Holder: "silt-2", Slot: t0, Acquired: t0, Expires: t0.Add(time.Minute), Done: true, Ended: t0.Add(time.Second)})
	write("compact", scheduler.Lease{Holder: "silt-1", Slot: t0, Acquired: t0, Expires: t0.Add(time.Minute)})
	leases := map[string]jobLease{}
	for _, name := range []string{"daily", "compact", "retention"} {
		l, ok, err := scheduler.ReadLease(ctx, store, name)
		require.NoError(t, err)
		leases[name] = jobLease{lease: l, taken: ok}
	}
	jobs := []config.Job{
		{Name: "ingest", Kind: "ingest", Schedule: "@every 5s"},
		{Name: "daily", Kind: "report", Schedule: "0 6 * * *"},
		{Name: "compact", Kind: "compact", Schedule: "@every 1h"},
		{Name: "retention", Kind: "retention", Schedule: "@every 1h"},
	}
	var out strings.Builder
	require.NoError(t, printJobs(&out, jobs, time.UTC, h, leases, t0.Add(30*time.Second), 5))
	got := out.String()
	for _, want := range []string{
		"RUNS ON",
		"every process",
		"last ran on silt-2 (slot 2024-03-01 12:00:00)",
		"lease held by silt-1 until 2024-03-01 12:01:00",
		"one process (no slot yet)",
		"ok      2024-03-01 12:00:00  2024-03-01 12:00:00  1s        1         silt-2",
	} {
		require.Contains(t, got, want)
	}
	// @every slots are aligned, as silt run computes them: compact's next
	// is on the hour, not an hour after `silt jobs` started.
	require.Contains(t, got, "compact    compact    @every 1h  2024-03-01 13:00:00")

	// Past its expiry the lease is not held any more.
	out.Reset()
	require.NoError(t, printJobs(&out, jobs, time.UTC, h, leases, t0.Add(2*time.Minute), 5))
	require.Contains(t, out.String(), "last ran on silt-1 (slot 2024-03-01 12:00:00)")
}
