package scheduler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// stepJob runs one attempt per result the test sends on release, and tells
// the test on started when an attempt begins (with its scheduled time).
type stepJob struct {
	name    string
	started chan time.Time
	release chan error
}

func newStepJob(name string) *stepJob {
	return &stepJob{name: name, started: make(chan time.Time, 16), release: make(chan error)}
}

func (j *stepJob) Name() string { return j.name }

func (j *stepJob) Run(ctx context.Context, at time.Time) (map[string]int64, error) {
	j.started <- at
	select {
	case err := <-j.release:
		if err != nil {
			return nil, err
		}
		return map[string]int64{"rows": 7}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var errBoom = errors.New("boom")

type harness struct {
	t     *testing.T
	clock *fakeClock
	reg   *prometheus.Registry
	hist  *History
	store lake.Store
	s     *Scheduler
	runs  chan Run
	rand  func() float64
}

func newHarness(t *testing.T, dir string) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	store, err := lake.NewLocal(dir)
	require.NoError(t, err)
	return newHarnessAt(t, store, t0)
}

func newHarnessAt(t *testing.T, store lake.Store, now time.Time) *harness {
	t.Helper()
	hist, err := OpenHistory(context.Background(), store, 0)
	require.NoError(t, err)
	h := &harness{t: t, clock: newFakeClock(now), reg: prometheus.NewRegistry(), hist: hist, store: store, runs: make(chan Run, 100)}
	h.rand = func() float64 { return 0.5 }
	s, err := New(Options{
		History: hist, Clock: h.clock, Registerer: h.reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Rand:   func() float64 { return h.rand() },
		OnRun:  func(r Run) { h.runs <- r },
	})
	require.NoError(t, err)
	h.s = s
	return h
}

func (h *harness) add(j Job, spec Spec) {
	h.t.Helper()
	require.NoError(h.t, h.s.Add(j, spec))
}

func (h *harness) start() {
	h.t.Helper()
	require.NoError(h.t, h.s.Start(context.Background()))
	h.t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // cancel whatever a failed test left running
		_ = h.s.Stop(ctx)
	})
}

// nextRun waits for the next recorded run.
func (h *harness) nextRun() Run {
	return <-h.runs
}

func (h *harness) counter(job, status string) float64 {
	return value(h.t, h.s.metrics.runs.WithLabelValues(job, status))
}

func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	require.NoError(t, m.Write(&d))
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func expectStart(t *testing.T, j *stepJob, want time.Time) {
	t.Helper()
	got := <-j.started
	require.True(t, got.Equal(want), "%s started for slot %s, want %s", j.name, got, want)
}
