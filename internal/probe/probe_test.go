package probe

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunAllBoundsEachProbeExplainsAndRedacts(t *testing.T) {
	refused := errors.New("login refused for hunter2")
	probes := []Probe{
		{Service: "kafka", Target: "k:9092", Run: func(context.Context) (string, error) { return "3 brokers", nil }},
		{Service: "lake", Target: "s3://lake/", Run: func(context.Context) (string, error) { return "", refused },
			Explain: func(err error) string { return "wrong secret (lake.s3.secret_key); saw " + err.Error() }},
		{Service: "catalog", Target: "trino", Run: func(ctx context.Context) (string, error) {
			<-ctx.Done() // a server that never answers
			return "", ctx.Err()
		}},
	}
	redact := func(s string) string { return strings.ReplaceAll(s, "hunter2", "<redacted>") }
	start := time.Now()
	results := RunAll(context.Background(), probes, 200*time.Millisecond, redact)
	require.Less(t, time.Since(start), 2*time.Second, "probes run concurrently, each bounded")

	require.Equal(t, []string{"kafka", "lake", "catalog"}, []string{results[0].Service, results[1].Service, results[2].Service})
	require.True(t, results[0].OK)
	require.Equal(t, "3 brokers", results[0].Detail)
	require.False(t, results[1].OK)
	require.Equal(t, "wrong secret (lake.s3.secret_key); saw login refused for <redacted>", results[1].Cause)
	require.NotContains(t, results[1].Error, "hunter2")
	require.False(t, results[2].OK)
	require.Contains(t, results[2].Cause, "no answer within 200ms")

	err := Failed(results)
	require.ErrorContains(t, err, "lake (s3://lake/): wrong secret")
	require.ErrorContains(t, err, "catalog (trino): no answer")
	require.NotContains(t, err.Error(), "kafka")
	require.NoError(t, Failed(results[:1]))
}

func TestMonitorKeepsTheLatestRoundAndReportsChanges(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	p := Probe{Service: "kafka", Target: "k", Run: func(context.Context) (string, error) {
		if fail.Load() {
			return "", errors.New("refused")
		}
		return "ok", nil
	}}
	seen := make(chan Result, 100)
	m := NewMonitor([]Probe{p}, MonitorOptions{Interval: 20 * time.Millisecond, Timeout: time.Second, OnResult: func(r Result) { seen <- r }})
	require.NoError(t, m.Ready(), "ready until the first round says otherwise")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)

	require.False(t, (<-seen).OK)
	require.ErrorContains(t, m.Ready(), "kafka (k): refused")
	fail.Store(false)
	for r := range seen {
		if r.OK {
			break
		}
	}
	require.Eventually(t, func() bool { return m.Ready() == nil }, time.Second, 10*time.Millisecond)
	require.True(t, m.Results()[0].OK)
}
