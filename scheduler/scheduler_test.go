package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseScheduleNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	from := time.Date(2024, 3, 1, 8, 0, 3, 0, time.UTC)
	tests := []struct {
		expr string
		loc  *time.Location
		want []time.Time
	}{
		{"*/15 * * * * *", nil, []time.Time{from.Add(12 * time.Second), from.Add(27 * time.Second), from.Add(42 * time.Second)}},
		{"*/5 * * * *", nil, []time.Time{from.Add(5*time.Minute - 3*time.Second), from.Add(10*time.Minute - 3*time.Second)}},
		{"@every 30s", nil, []time.Time{from.Add(30 * time.Second), from.Add(60 * time.Second)}},
		{"@every 1m30s", ny, []time.Time{from.Add(90 * time.Second)}},
		{"0 9 * * *", nil, []time.Time{time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 9, 0, 0, 0, time.UTC)}},
		{"0 9 * * *", ny, []time.Time{time.Date(2024, 3, 1, 14, 0, 0, 0, time.UTC)}},
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", ny, []time.Time{time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)}},
		{"@hourly", nil, []time.Time{time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)}},
		{"30 0 9 * * 1", nil, []time.Time{time.Date(2024, 3, 4, 9, 0, 30, 0, time.UTC)}}, // Monday
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			s, err := ParseSchedule(tc.expr, tc.loc)
			require.NoError(t, err)
			at := from
			for _, w := range tc.want {
				at = s.Next(at)
				require.True(t, at.Equal(w), "next after: got %s want %s", at.UTC(), w)
			}
		})
	}
	for _, bad := range []string{"", "* * *", "61 * * * *", "@every nope", "CRON_TZ=Mars/Base 0 9 * * *"} {
		_, err := ParseSchedule(bad, nil)
		require.Error(t, err, bad)
	}
}

func TestRunsOnScheduleWithScheduledTime(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("ingest")
	h.add(j, Spec{Schedule: "*/10 * * * * *"})
	h.start()
	for i := 1; i <= 3; i++ {
		slot := t0.Add(time.Duration(i) * 10 * time.Second)
		h.clock.advanceTo(slot)
		expectStart(t, j, slot)
		h.clock.advance(time.Second) // the run takes a while: it still gets its slot
		j.release <- nil
		r := h.nextRun()
		require.Equal(t, StatusOK, r.Status)
		require.True(t, r.Scheduled.Equal(slot))
		require.Equal(t, time.Second, r.Duration())
		require.Equal(t, map[string]int64{"rows": 7}, r.Counts)
	}
	require.Equal(t, 3.0, h.counter("ingest", StatusOK))
	st := h.s.Status()
	require.Len(t, st, 1)
	require.Len(t, st[0].Last, 3)
	require.True(t, st[0].Next.Equal(t0.Add(40*time.Second)), "next %s", st[0].Next)
}

func TestOverlapSkipCountsSkippedRuns(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("slow")
	h.add(j, Spec{Schedule: "@every 10s"})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, j, t0.Add(10*time.Second))
	for i := 2; i <= 3; i++ { // two slots pass while the first run runs
		h.clock.advanceTo(t0.Add(time.Duration(i) * 10 * time.Second))
		r := h.nextRun()
		require.Equal(t, StatusSkipped, r.Status)
		require.True(t, r.Scheduled.Equal(t0.Add(time.Duration(i)*10*time.Second)))
	}
	j.release <- nil
	require.Equal(t, StatusOK, h.nextRun().Status)
	require.Equal(t, 2.0, h.counter("slow", StatusSkipped))
	require.Equal(t, 1.0, h.counter("slow", StatusOK))
	// The skipped slots are not run later: the next run is the next slot.
	h.clock.advanceTo(t0.Add(40 * time.Second))
	expectStart(t, j, t0.Add(40*time.Second))
	j.release <- nil
	require.Equal(t, StatusOK, h.nextRun().Status)
}

func TestOverlapQueueRunsOneQueuedRun(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("queued")
	h.add(j, Spec{Schedule: "@every 10s", Overlap: OverlapQueue})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, j, t0.Add(10*time.Second))
	h.clock.advanceTo(t0.Add(20 * time.Second)) // queued
	h.clock.advanceTo(t0.Add(30 * time.Second)) // the queue holds one: skipped
	r := h.nextRun()
	require.Equal(t, StatusSkipped, r.Status)
	require.True(t, r.Scheduled.Equal(t0.Add(30*time.Second)))

	j.release <- nil
	require.Equal(t, StatusOK, h.nextRun().Status)
	expectStart(t, j, t0.Add(20*time.Second)) // the queued run, with its own slot
	j.release <- nil
	r = h.nextRun()
	require.Equal(t, StatusOK, r.Status)
	require.True(t, r.Scheduled.Equal(t0.Add(20*time.Second)))
	require.Equal(t, 2.0, h.counter("queued", StatusOK))
	require.Equal(t, 1.0, h.counter("queued", StatusSkipped))
}

func TestBackoffBounds(t *testing.T) {
	base := time.Second
	for n := 0; n < 20; n++ {
		nominal := min(base<<n, maxBackoff)
		for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
			d := retryDelay(base, n, r)
			require.GreaterOrEqual(t, d, nominal/2, "n=%d r=%v", n, r)
			require.LessOrEqual(t, d, nominal, "n=%d r=%v", n, r)
		}
		require.Equal(t, nominal/2, retryDelay(base, n, 0))
	}
	require.Equal(t, maxBackoff, retryDelay(base, 60, 1)) // no overflow for large n
	require.Equal(t, 750*time.Millisecond, retryDelay(0, 0, 0.5))
}

func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	h := newHarness(t, "")
	jitter := []float64{0, 0.75, 0.25}
	h.rand = func() float64 { r := jitter[0]; jitter = jitter[1:]; return r }
	j := newStepJob("flaky")
	h.add(j, Spec{Schedule: "@every 1m", Retries: 3, RetryDelay: time.Second})
	h.start()
	slot := t0.Add(time.Minute)
	h.clock.advanceTo(slot)
	expectStart(t, j, slot)
	// Equal jitter: delay n is in [base·2ⁿ/2, base·2ⁿ]; these are the points
	// the injected jitter picks.
	at := slot
	for _, delay := range []time.Duration{500 * time.Millisecond, 1750 * time.Millisecond, 2500 * time.Millisecond} {
		j.release <- errBoom
		at = at.Add(delay)
		h.clock.advanceTo(at)
		expectStart(t, j, slot) // a retry keeps the run's slot
	}
	j.release <- nil
	r := h.nextRun()
	require.Equal(t, StatusOK, r.Status)
	require.Equal(t, 4, r.Attempts)
	require.Equal(t, 4750*time.Millisecond, r.Duration())
	require.Equal(t, 3.0, value(t, h.s.metrics.retries.WithLabelValues("flaky")))
	require.Equal(t, 0.0, h.counter("flaky", StatusFailed))
}

func TestRetriesAreBounded(t *testing.T) {
	h := newHarness(t, "")
	h.rand = func() float64 { return 0 }
	j := newStepJob("broken")
	h.add(j, Spec{Schedule: "@every 1m", Retries: 1, RetryDelay: 4 * time.Second})
	h.start()
	slot := t0.Add(time.Minute)
	h.clock.advanceTo(slot)
	expectStart(t, j, slot)
	j.release <- errBoom
	h.clock.advanceTo(slot.Add(2 * time.Second))
	expectStart(t, j, slot)
	j.release <- errors.New("still boom")
	r := h.nextRun()
	require.Equal(t, StatusFailed, r.Status)
	require.Equal(t, 2, r.Attempts)
	require.Equal(t, "still boom", r.Error)
	require.Equal(t, 1.0, h.counter("broken", StatusFailed))
}

func TestCatchupRunsTheLastMissedSlotOnce(t *testing.T) {
	dir := t.TempDir()
	// A previous silt ran the hourly jobs at 12:00, then was down until 15:30.
	prev := newHarness(t, dir)
	for _, name := range []string{"daily_catchup", "daily_plain"} {
		require.NoError(t, prev.hist.Record(context.Background(), Run{Job: name, Scheduled: t0, Start: t0, End: t0.Add(time.Second), Status: StatusOK}))
	}

	h := newHarnessAt(t, prev.store, t0.Add(3*time.Hour+30*time.Minute))
	catchup, plain, fresh := newStepJob("daily_catchup"), newStepJob("daily_plain"), newStepJob("fresh")
	h.add(catchup, Spec{Schedule: "0 * * * *", Catchup: true})
	h.add(plain, Spec{Schedule: "0 * * * *"})
	h.add(fresh, Spec{Schedule: "0 * * * *", Catchup: true}) // never ran: nothing missed
	h.start()
	expectStart(t, catchup, t0.Add(3*time.Hour)) // once, for the latest missed slot
	catchup.release <- nil
	require.Equal(t, StatusOK, h.nextRun().Status)

	h.clock.advanceTo(t0.Add(4 * time.Hour))
	for _, j := range []*stepJob{catchup, plain, fresh} {
		expectStart(t, j, t0.Add(4*time.Hour))
		j.release <- nil
		require.Equal(t, StatusOK, h.nextRun().Status)
	}
	require.Equal(t, 2.0, h.counter("daily_catchup", StatusOK))
	require.Equal(t, 1.0, h.counter("daily_plain", StatusOK))
}

func TestChainRunsFollowersAfterSuccess(t *testing.T) {
	h := newHarness(t, "")
	ingest, register, report := newStepJob("ingest"), newStepJob("register"), newStepJob("report")
	h.add(ingest, Spec{Schedule: "@every 10s"})
	h.add(register, Spec{After: "ingest"})
	h.add(report, Spec{After: "ingest", Schedule: "@every 30s"})
	h.start()

	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, ingest, t0.Add(10*time.Second))
	ingest.release <- nil
	require.Equal(t, "ingest", h.nextRun().Job)
	expectStart(t, register, t0.Add(10*time.Second)) // the slot that fed it
	register.release <- nil
	require.Equal(t, "register", h.nextRun().Job)

	h.clock.advanceTo(t0.Add(20 * time.Second))
	expectStart(t, ingest, t0.Add(20*time.Second))
	ingest.release <- errBoom
	require.Equal(t, StatusFailed, h.nextRun().Status) // no follower runs on a failure

	h.clock.advanceTo(t0.Add(30 * time.Second)) // report due: waits for fresh data
	expectStart(t, ingest, t0.Add(30*time.Second))
	// The slot was handled under one lock, so Status already sees the wait.
	require.True(t, h.s.Status()[2].Waiting)
	ingest.release <- errBoom
	require.Equal(t, StatusFailed, h.nextRun().Status)

	h.clock.advanceTo(t0.Add(40 * time.Second))
	expectStart(t, ingest, t0.Add(40*time.Second))
	ingest.release <- nil
	require.Equal(t, "ingest", h.nextRun().Job)
	expectStart(t, register, t0.Add(40*time.Second))
	expectStart(t, report, t0.Add(30*time.Second)) // its own slot, run on fresh data
	register.release <- nil
	report.release <- nil
	got := map[string]string{}
	for range 2 {
		r := h.nextRun()
		got[r.Job] = r.Status
	}
	require.Equal(t, map[string]string{"register": StatusOK, "report": StatusOK}, got)
	require.Equal(t, 2.0, h.counter("register", StatusOK))
	require.Equal(t, 1.0, h.counter("report", StatusOK))
}

func TestStartRejectsUnknownAfter(t *testing.T) {
	h := newHarness(t, "")
	h.add(newStepJob("report"), Spec{After: "nope"})
	require.ErrorContains(t, h.s.Start(context.Background()), `follows "nope"`)
	require.Error(t, h.s.Add(newStepJob("x"), Spec{}))
	require.Error(t, h.s.Add(newStepJob("report"), Spec{Schedule: "@every 1s"}))
	require.Error(t, h.s.Add(newStepJob("y"), Spec{Schedule: "@every 1s", Overlap: "pile"}))
}
