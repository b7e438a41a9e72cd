//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/internal/topics"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// shippedTo reads the ship state file: true once every file it follows
// is at size bytes (the log is one file here).
func shippedTo(state string, size int64) bool {
	raw, err := os.ReadFile(state)
	if err != nil {
		return false
	}
	var st struct {
		Files map[string]struct {
			Offset int64 `json:"offset"`
		} `json:"files"`
	}
	if json.Unmarshal(raw, &st) != nil || len(st.Files) != 1 {
		return false
	}
	for _, f := range st.Files {
		return f.Offset == size
	}
	return false
}

// TestShipKilledAtRandomMomentsE2E: `silt ship` on the stack's Kafka is
// killed with SIGKILL at seeded random moments while the log grows, and
// started again each time; every line is in the topic exactly once (a
// kill between Kafka's ack and the state write is recovered from the
// records' headers), and a final SIGTERM exits 0.
func TestShipKilledAtRandomMomentsE2E(t *testing.T) {
	shipKilledAtRandomMoments(t, stacktest.Get(t), 60_000, 5_000, 8)
}

// TestShipSecureE2EKilledAndRestartedOverSASLSSL is the same on the secure
// stack, smaller: silt ship reaches Kafka over SASL_SSL (SCRAM-SHA-512,
// the stack's CA) and still sends every line exactly once across kills.
func TestShipSecureE2EKilledAndRestartedOverSASLSSL(t *testing.T) {
	shipKilledAtRandomMoments(t, stacktest.Secure(t), 10_000, 1_000, 3)
}

// shipKilledAtRandomMoments ships a log of first lines, growing by more
// lines after each of at most kills SIGKILLs, then checks the topic holds
// every line exactly once.
func shipKilledAtRandomMoments(t *testing.T, ep *stack.Endpoints, first, more, maxKills int) {
	t.Helper()
	ctx := t.Context()
	topic := fmt.Sprintf("ship-kill-%d", time.Now().UnixNano())
	opts := stacktest.KafkaOpts(t, ep)
	require.NoError(t, topics.Ensure(ctx, ep.KafkaBrokers, []string{topic}, 2, opts[1:]...))

	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "ship.state")
	env := siltrun.Env(append(ep.Env(), "SILT_SHIP_PATHS="+logPath, "SILT_SHIP_STATE_FILE="+state,
		"SILT_SHIP_TOPIC="+topic, "SILT_SHIP_HOST=killed", "SILT_SHIP_DATE=2026-03-01", "SILT_KAFKA_TOPICS="+topic)...)
	next := 0
	appendLines := func(n int) int64 {
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		var b strings.Builder
		for range n {
			fmt.Fprintf(&b, "%02d:%02d:%02d.%03d [main] INFO c.e.Gen - line %d\n", next/3600000%24, next/60000%60, next/1000%60, next%1000, next)
			next++
		}
		_, err = f.WriteString(b.String())
		require.NoError(t, err)
		require.NoError(t, f.Close())
		fi, err := os.Stat(logPath)
		require.NoError(t, err)
		return fi.Size()
	}
	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(stacktest.SiltBin(t), "ship")
		cmd.Dir, cmd.Env = dir, env
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("ship-%d.out", time.Now().UnixNano())))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait(); _ = out.Close() }()
		return cmd, done
	}

	rng := rand.New(rand.NewPCG(7, 7))
	size := appendLines(first)
	kills := 0
	for kills < maxKills && !shippedTo(state, size) {
		cmd, done := start()
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond) // a random moment, not an assertion
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		t.Logf("kill %d: %v", kills, <-done)
		kills++
		size = appendLines(more)
	}
	cmd, done := start()
	deadline := time.Now().Add(3 * time.Minute)
	for !shippedTo(state, size) {
		require.True(t, time.Now().Before(deadline), "the last shipper did not reach the end of the log")
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-done, "silt ship exits 0 on SIGTERM")
	require.Positive(t, kills)

	// Every line in the topic exactly once.
	ends, err := kadm.NewClient(mustClient(t, opts)).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	total := int64(0)
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset; from[o.Partition] = kgo.NewOffset().AtStart() })
	cl := mustClient(t, append(append([]kgo.Opt{}, opts...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})))
	seen := make([]int, next)
	read := int64(0)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for read < total {
		fs := cl.PollFetches(pctx)
		require.NoError(t, pctx.Err())
		fs.EachRecord(func(r *kgo.Record) {
			read++
			var ev struct {
				Message string `json:"message"`
				Host    string `json:"host"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &ev))
			var n int
			_, err := fmt.Sscanf(ev.Message, "line %d", &n)
			require.NoError(t, err, "%s", r.Value)
			seen[n]++
		})
	}
	var lost, twice []int
	for n, c := range seen {
		switch {
		case c == 0:
			lost = append(lost, n)
		case c > 1:
			twice = append(twice, n)
		}
	}
	require.Empty(t, lost, "lines lost")
	require.Empty(t, twice, "lines sent more than once")
	t.Logf("%d lines, %d kills", next, kills)
}

func mustClient(t *testing.T, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}
