package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// The lag the status page reads (Metrics.Lag) is the lag the batch saw and
// the gauge /metrics serves, per partition; two jobs share one registry.
func TestMetricsLagIsTheBatchLagOnTheInjectedRegistry(t *testing.T) {
	s := newSetup(t)
	values, _ := gameEvents(3000, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	s.produce(t, values)

	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	opts := s.opts
	opts.Metrics = m
	opts.MaxRecords = 300 // a tenth of the topic: the rest is lag
	j := New(opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.Positive(t, st.Lag)

	lags := m.Lag()
	require.Len(t, lags, 3, "one entry per partition of the topic")
	var sum int64
	for _, pl := range lags {
		require.Equal(t, "events", pl.Topic)
		sum += pl.Lag
	}
	require.Equal(t, st.Lag, sum)

	fams, err := reg.Gather()
	require.NoError(t, err)
	var gauge float64
	for _, f := range fams {
		if f.GetName() == "silt_ingest_consumer_lag" {
			for _, mt := range f.GetMetric() {
				gauge += mt.GetGauge().GetValue()
			}
		}
	}
	require.EqualValues(t, st.Lag, gauge, "silt_ingest_consumer_lag on the injected registry")

	other := opts
	other.Metrics = m
	require.NotPanics(t, func() { New(other, s.store).Close() }, "jobs share one Metrics")
}
