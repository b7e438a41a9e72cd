package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// A permanent failure (a wrong password) is not retried within its run,
// and holds the job's next ticks off for a doubling delay; a success ends
// the hold.
func TestPermanentFailuresAreNotRetriedAndHoldTheJobOff(t *testing.T) {
	h := newHarness(t, "")
	h.rand = func() float64 { return 0.999999 } // the nominal delay, within a rounding
	j := newStepJob("ingest")
	h.add(j, Spec{Schedule: "@every 5s", Retries: 3, RetryDelay: time.Second})
	h.start()

	refused := Permanent(fmt.Errorf("connect to kafka: %w", errBoom))
	at := t0.Add(5 * time.Second)
	h.clock.advanceTo(at)
	expectStart(t, j, at)
	j.release <- refused
	r := h.nextRun()
	require.Equal(t, StatusFailed, r.Status)
	require.Equal(t, 1, r.Attempts, "no retry of a permanent failure within the run")
	st := h.s.Status()[0]
	require.WithinDuration(t, at.Add(permanentHoldBase), st.HeldUntil, time.Millisecond)
	require.Contains(t, st.HeldBy, "connect to kafka")

	// Ticks inside the 10 s hold start nothing; the first after it runs,
	// and a second failure in a row doubles the hold.
	at = skipHeldTicks(t, h, j, at, 10*time.Second)
	expectStart(t, j, at)
	j.release <- refused
	require.Equal(t, 1, h.nextRun().Attempts)
	require.WithinDuration(t, at.Add(2*permanentHoldBase), h.s.Status()[0].HeldUntil, time.Millisecond)

	at = skipHeldTicks(t, h, j, at, 20*time.Second)
	expectStart(t, j, at)
	j.release <- nil
	require.Equal(t, StatusOK, h.nextRun().Status)
	require.True(t, h.s.Status()[0].HeldUntil.IsZero(), "a success ends the hold")

	// An ordinary failure is retried as before and holds nothing.
	h.rand = func() float64 { return 0 } // the retry comes after half its 1 s
	at = at.Add(5 * time.Second)
	h.clock.advanceTo(at)
	expectStart(t, j, at)
	j.release <- errBoom
	h.clock.advanceTo(at.Add(500 * time.Millisecond))
	expectStart(t, j, at)
	j.release <- nil
	require.Equal(t, 2, h.nextRun().Attempts)
	require.True(t, h.s.Status()[0].HeldUntil.IsZero())
}

func TestIsPermanentSeesAMarkThroughWrapping(t *testing.T) {
	require.False(t, IsPermanent(errBoom))
	require.False(t, IsPermanent(nil))
	require.True(t, IsPermanent(fmt.Errorf("batch: %w", Permanent(errBoom))))
	require.ErrorIs(t, Permanent(errBoom), errBoom)
	require.NoError(t, Permanent(nil))
}

// skipHeldTicks moves the clock tick by tick (every 5 s) through a hold
// of d from at, requiring that no tick inside it starts the job, and
// returns the first tick after it.
func skipHeldTicks(t *testing.T, h *harness, j *stepJob, at time.Time, d time.Duration) time.Time {
	t.Helper()
	for tick := at.Add(5 * time.Second); tick.Before(at.Add(d)); tick = tick.Add(5 * time.Second) {
		h.clock.advanceTo(tick)
		select {
		case s := <-j.started:
			t.Fatalf("a held job started for %s", s)
		case <-time.After(50 * time.Millisecond):
		}
	}
	next := at.Add(d)
	h.clock.advanceTo(next)
	return next
}

// With OnRun set (silt run's console line), a run is logged at debug
// level only, so the console shows each run once.
func TestRunsAreLoggedAtDebugWhenOnRunShowsThem(t *testing.T) {
	for _, withOnRun := range []bool{false, true} {
		var logs strings.Builder
		hist, err := OpenHistory(context.Background(), localStore(t), 0)
		require.NoError(t, err)
		clock := newFakeClock(t0)
		opts := Options{History: hist, Clock: clock, Registerer: prometheus.NewRegistry(),
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
		runs := make(chan Run, 1)
		if withOnRun {
			opts.OnRun = func(r Run) { runs <- r }
		}
		s, err := New(opts)
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		s.record(Run{Job: "ingest", Status: StatusOK, Start: t0, End: t0})
		require.NoError(t, s.Stop(context.Background()))
		require.Equal(t, !withOnRun, strings.Contains(logs.String(), `msg="job run"`), "OnRun set: %v\n%s", withOnRun, logs.String())
	}
}

func localStore(t *testing.T) lake.Store {
	t.Helper()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	return st
}
