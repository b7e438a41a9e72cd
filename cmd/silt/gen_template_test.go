package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// silt gen --template with --seed, --start and --step publishes the same
// events every run: the examples' E2E tests rely on it for exact results.
func TestGenTemplateIsDeterministic(t *testing.T) {
	t.Setenv("SILT_KAFKA_BROKERS", "")
	require.NoError(t, os.Unsetenv("SILT_KAFKA_BROKERS"))
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "a", "b"))
	require.NoError(t, err)
	defer kc.Close()
	tpl := filepath.Join(t.TempDir(), "click.json")
	require.NoError(t, os.WriteFile(tpl, []byte(`{"event_type":"{{choice "user_click" "user_view"}}","timestamp":{{now_ms}},"n":{{seq}},"v":{{int 1 1000}}}`), 0o644))

	for _, topic := range []string{"a", "b"} {
		require.NoError(t, runGen(t.Context(), []string{"--brokers", kc.ListenAddrs()[0], "--topic", topic, "--template", tpl,
			"--count", "20", "--seed", "9", "--rate", "0", "--workers", "1", "--start", "2026-03-01T10:00:00Z", "--step", "2500ms"}))
	}
	a, b := readValues(t, kc.ListenAddrs(), "a"), readValues(t, kc.ListenAddrs(), "b")
	require.Len(t, a, 20)
	require.Equal(t, a, b, "the same seed and start make the same events")
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, raw := range a {
		var ev struct {
			Timestamp int64 `json:"timestamp"`
			N         int   `json:"n"`
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &ev))
		require.Equal(t, i+1, ev.N)
		require.Equal(t, start.Add(time.Duration(i)*2500*time.Millisecond).UnixMilli(), ev.Timestamp, "event %d", i)
	}

	err = runGen(t.Context(), []string{"--brokers", kc.ListenAddrs()[0], "--template", tpl, "--start", "yesterday"})
	require.ErrorContains(t, err, `--start "yesterday": write an RFC 3339 time`)
}

// readValues reads one partition's records in order.
func readValues(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < 20 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of 20 records", len(out))
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}
