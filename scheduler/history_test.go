package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistorySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir)
	j := newStepJob("ingest")
	h.add(j, Spec{Schedule: "@every 10s"})
	h.start()
	for i := 1; i <= 2; i++ {
		h.clock.advanceTo(t0.Add(time.Duration(i) * 10 * time.Second))
		<-j.started
		j.release <- nil
		h.nextRun()
	}
	require.NoError(t, h.s.Stop(context.Background()))

	// A new process on the same lake sees both runs, newest first.
	again := newHarnessAt(t, h.store, t0.Add(time.Hour))
	again.add(newStepJob("ingest"), Spec{Schedule: "@every 10s"})
	again.start()
	st := again.s.Status()
	require.Len(t, st[0].Last, 2)
	require.True(t, st[0].Last[0].Scheduled.Equal(t0.Add(20*time.Second)))
	require.True(t, st[0].Last[1].Scheduled.Equal(t0.Add(10*time.Second)))
	require.Equal(t, map[string]int64{"rows": 7}, st[0].Last[0].Counts)
	require.True(t, st[0].LastSuccess.Equal(t0.Add(20*time.Second)))
}

// silt_job_last_success_timestamp_seconds comes back from the history
// after a restart; a job that never succeeded has no series.
func TestLastSuccessGaugeSurvivesRestart(t *testing.T) {
	h := newHarness(t, "")
	ctx := context.Background()
	okEnd := t0.Add(12*time.Second + 250*time.Millisecond)
	for _, r := range []Run{
		{Job: "ingest", Scheduled: t0, Start: t0, End: t0.Add(time.Second), Status: StatusOK},
		{Job: "ingest", Scheduled: t0.Add(10 * time.Second), Start: t0.Add(10 * time.Second), End: okEnd, Status: StatusOK},
		{Job: "ingest", Scheduled: t0.Add(20 * time.Second), Start: t0.Add(20 * time.Second), End: t0.Add(21 * time.Second), Status: StatusFailed},
		{Job: "ingest", Scheduled: t0.Add(30 * time.Second), Start: t0.Add(30 * time.Second), End: t0.Add(30 * time.Second), Status: StatusSkipped},
		{Job: "broken", Scheduled: t0, Start: t0, End: t0.Add(time.Second), Status: StatusFailed},
	} {
		require.NoError(t, h.hist.Record(ctx, r))
	}

	again := newHarnessAt(t, h.store, t0.Add(time.Hour))
	again.add(newStepJob("ingest"), Spec{Schedule: "@every 10s"})
	again.add(newStepJob("broken"), Spec{Schedule: "@every 10s"})
	got := map[string]float64{}
	fams, err := again.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "silt_job_last_success_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	require.Equal(t, map[string]float64{"ingest": float64(okEnd.UnixNano()) / 1e9}, got)
}

func TestHistoryKeepsTheLastRunsPerJob(t *testing.T) {
	h := newHarness(t, "")
	ctx := context.Background()
	for i := range 12 {
		at := t0.Add(time.Duration(i) * time.Minute)
		require.NoError(t, h.hist.Record(ctx, Run{Job: "a/b", Scheduled: at, Start: at, End: at, Status: StatusOK, Error: fmt.Sprint(i)}))
	}
	small, err := OpenHistory(ctx, h.store, 5)
	require.NoError(t, err)
	require.Len(t, small.Last("a/b", 100), 12) // keep applies on write
	require.NoError(t, small.Record(ctx, Run{Job: "a/b", Scheduled: t0.Add(time.Hour), Start: t0.Add(time.Hour), Status: StatusFailed}))
	reread, err := OpenHistory(ctx, h.store, 5)
	require.NoError(t, err)
	last := reread.Last("a/b", 100)
	require.Len(t, last, 5)
	require.Equal(t, StatusFailed, last[0].Status)
	require.Equal(t, "11", last[1].Error)
	objs, err := h.store.List(ctx, historyPrefix)
	require.NoError(t, err)
	require.Len(t, objs, 1)
	require.Equal(t, "_silt/runs/a%2Fb.jsonl", objs[0].Key)
}
