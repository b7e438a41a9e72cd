package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/scheduler"
)

type fnJob struct {
	name string
	run  func() (map[string]int64, error)
}

func (j fnJob) Name() string { return j.name }
func (j fnJob) Run(context.Context, time.Time) (map[string]int64, error) {
	return j.run()
}

// TestMetricsParseAndMatchRuns runs real jobs on the wall clock (every
// second), then checks that /metrics is valid Prometheus text whose job
// counters equal the runs in the persisted history.
func TestMetricsParseAndMatchRuns(t *testing.T) {
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	hist, err := scheduler.OpenHistory(context.Background(), store, 0)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	runs := make(chan scheduler.Run, 100)
	s, err := scheduler.New(scheduler.Options{History: hist, Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnRun: func(r scheduler.Run) { runs <- r }})
	require.NoError(t, err)
	n := int64(0)
	require.NoError(t, s.Add(fnJob{"ingest", func() (map[string]int64, error) { n++; return map[string]int64{"rows": n}, nil }}, scheduler.Spec{Schedule: "* * * * * *"}))
	require.NoError(t, s.Add(fnJob{"broken", func() (map[string]int64, error) { return nil, errors.New("boom") }}, scheduler.Spec{After: "ingest"}))
	require.NoError(t, s.Start(context.Background()))
	seen := map[string]int{}
	for seen["ingest"] < 3 || seen["broken"] < 3 {
		r := <-runs
		seen[r.Job+"/"+r.Status]++
		seen[r.Job]++
	}
	require.NoError(t, s.Stop(context.Background()))
	for len(runs) > 0 { // runs that ended while stopping
		r := <-runs
		seen[r.Job+"/"+r.Status]++
		seen[r.Job]++
	}

	_, body := get(t, New(Options{Jobs: s, Gatherer: reg}), "/metrics")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, "metrics are not Prometheus text:\n%s", body)

	runsTotal := families["silt_job_runs_total"]
	require.NotNil(t, runsTotal)
	got := map[string]int{}
	for _, m := range runsTotal.GetMetric() {
		got[label(m, "job")+"/"+label(m, "status")] = int(m.GetCounter().GetValue())
	}
	for _, key := range []string{"ingest/ok", "ingest/failed", "ingest/skipped", "broken/ok", "broken/failed", "broken/skipped"} {
		require.Equal(t, seen[key], got[key], key)
		job, status, _ := strings.Cut(key, "/")
		inHistory := 0
		for _, r := range hist.Last(job, 1000) {
			if r.Status == status {
				inHistory++
			}
		}
		require.Equal(t, inHistory, got[key], "history vs metric %s", key)
	}
	require.GreaterOrEqual(t, got["ingest/ok"], 3)
	require.GreaterOrEqual(t, got["broken/failed"], 3)

	dur := families["silt_job_run_duration_seconds"]
	require.NotNil(t, dur)
	for _, m := range dur.GetMetric() {
		job := label(m, "job")
		require.Equal(t, uint64(seen[job+"/ok"]+seen[job+"/failed"]), m.GetHistogram().GetSampleCount(), job)
	}
	last := families["silt_job_last_success_timestamp_seconds"]
	require.NotNil(t, last)
	require.Len(t, last.GetMetric(), 1, "only ingest ever succeeded")
	ts := last.GetMetric()[0].GetGauge().GetValue()
	require.InDelta(t, float64(hist.Last("ingest", 1)[0].End.UnixNano())/1e9, ts, 0.001)
	require.Equal(t, "ingest", label(last.GetMetric()[0], "job"))
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
