package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStopWaitsForTheRunningJob(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("ingest")
	h.add(j, Spec{Schedule: "@every 10s"})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, j, t0.Add(10*time.Second))

	stopped := make(chan error, 1)
	go func() { stopped <- h.s.Stop(context.Background()) }()
	// Stop has begun once the scheduler reports it is stopping.
	for h.s.Ready() == nil {
		time.Sleep(time.Millisecond)
	}
	// The job is still blocked: Stop must not return. A Stop that does
	// not wait returns within microseconds of closing its stop channel;
	// the pause gives it ample time to (wrongly) do so. It only gives
	// the check power: a correct Stop passes however long or short it is.
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while the job was still running", err)
	case <-time.After(100 * time.Millisecond):
	}
	j.release <- nil // the running batch finishes its work
	require.NoError(t, <-stopped)
	// Stop returned only after the run ended and was recorded, so the
	// record is already there: no waiting for it.
	select {
	case r := <-h.runs:
		require.Equal(t, StatusOK, r.Status)
	default:
		t.Fatal("Stop returned before the running job's run was recorded")
	}
	h.clock.advance(time.Hour) // the loop is gone: no slot fires
	require.Empty(t, h.runs)
	require.Empty(t, j.started)
	require.Len(t, h.hist.Last("ingest", 10), 1)
}

func TestStopCancelsRunsAtTheDeadline(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("stuck")
	h.add(j, Spec{Schedule: "@every 10s", Retries: 5})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, j, t0.Add(10*time.Second))

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed: the run's context is cancelled
	err := h.s.Stop(ctx)
	require.ErrorIs(t, err, context.Canceled)
	r := h.nextRun()
	require.Equal(t, StatusFailed, r.Status)
	require.Equal(t, 1, r.Attempts, "a cancelled run is not retried")
	require.Contains(t, r.Error, "context canceled")
}

func TestStopAbandonsPendingRetries(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("flaky")
	h.add(j, Spec{Schedule: "@every 10s", Retries: 3, RetryDelay: time.Minute})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, j, t0.Add(10*time.Second))
	j.release <- errBoom
	h.clock.waitTimer(t0.Add(10*time.Second + 45*time.Second)) // the retry is armed
	require.NoError(t, h.s.Stop(context.Background()))
	r := h.nextRun()
	require.Equal(t, StatusFailed, r.Status)
	require.Contains(t, r.Error, "not retried: scheduler stopping")
}

func TestPanickingJobFailsItsRun(t *testing.T) {
	h := newHarness(t, "")
	h.add(panicJob{}, Spec{Schedule: "@every 10s"})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	r := h.nextRun()
	require.Equal(t, StatusFailed, r.Status)
	require.Contains(t, r.Error, "panicked: oops")
}

type panicJob struct{}

func (panicJob) Name() string { return "panicky" }
func (panicJob) Run(context.Context, time.Time) (map[string]int64, error) {
	panic("oops")
}
