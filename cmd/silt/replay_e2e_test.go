//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/deadletters"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/internal/topics"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// As a user on the real Kafka: bad events are ingested, `silt deadletters`
// lists them, `silt replay-dead-letters` re-publishes the selected ones to
// another topic, and running it again sends nothing more.
func TestDeadLettersListAndReplayOnceE2E(t *testing.T) {
	deadLettersListAndReplayOnce(t, stacktest.Get(t))
}

// TestDeadLettersReplaySecureE2EOverSASLSSL is the same against the secure
// stack's Kafka (SASL_SSL, SCRAM-SHA-512, the stack's CA): ingest and the
// replay's producer and topic read-back all connect securely.
func TestDeadLettersReplaySecureE2EOverSASLSSL(t *testing.T) {
	deadLettersListAndReplayOnce(t, stacktest.Secure(t))
}

func deadLettersListAndReplayOnce(t *testing.T, e *stack.Endpoints) {
	t.Helper()
	ctx := t.Context()
	src := fmt.Sprintf("dead-src-%d", time.Now().UnixNano())
	dst := src + "-fixed"
	opts := stacktest.KafkaOpts(t, e)
	require.NoError(t, topics.Ensure(ctx, e.KafkaBrokers, []string{src, dst}, 2, opts[1:]...))
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.DefaultProduceTopic(src))...)
	require.NoError(t, err)
	defer cl.Close()
	for _, v := range []string{`<script>alert("x")</script>`, `{"event_type":"bad type!"}`, `{"event_type":"join_guild","host":"a"}`} {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr())
	}

	dir := t.TempDir()
	// The stack's Kafka settings (TLS and SASL on the secure one), a local lake.
	env := envWithout("SILT_")
	for _, kv := range e.Env() {
		if strings.HasPrefix(kv, "SILT_KAFKA_") {
			env = append(env, kv)
		}
	}
	env = append(env, "SILT_KAFKA_TOPICS="+src, "SILT_KAFKA_GROUP="+src, "SILT_LAKE_ROOT="+filepath.Join(dir, "lake"))
	silt := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, stacktest.SiltBin(t), args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.Output()
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		require.NoError(t, err, "silt %v: %s\n%s", args, out, stderr)
		return string(out)
	}
	silt("ingest", "--once")

	var listed []deadletters.Letter
	require.NoError(t, json.Unmarshal([]byte(silt("deadletters", "--format", "json")), &listed))
	require.Len(t, listed, 2)
	kinds := map[string]string{}
	for _, l := range listed {
		require.Equal(t, src, l.Topic)
		kinds[l.Kind] = l.Raw
	}
	require.Equal(t, `<script>alert("x")</script>`, kinds["not_json"])
	require.Contains(t, kinds, "bad_event_type")

	out := silt("replay-dead-letters", "--to", dst, "--reason", "not_json")
	require.Contains(t, out, "replayed 1, already replayed before 0")
	out = silt("replay-dead-letters", "--to", dst, "--reason", "not_json")
	require.Contains(t, out, "replayed 0, already replayed before 1")

	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, dst)
	require.NoError(t, err)
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	require.EqualValues(t, 1, total, "one record in the target topic after two replays")
	rd, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.ConsumeTopics(dst), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	require.NoError(t, err)
	defer rd.Close()
	var got []*kgo.Record
	for len(got) < 1 {
		fs := rd.PollFetches(ctx)
		require.NoError(t, fs.Err())
		got = append(got, fs.Records()...)
	}
	require.Equal(t, `<script>alert("x")</script>`, string(got[0].Value))
	require.Equal(t, deadletters.ReplayHeader, got[0].Headers[0].Key)
	for _, l := range listed {
		if l.Kind == "not_json" {
			require.Equal(t, fmt.Sprintf("%s/%d/%d", l.Topic, l.Partition, l.Offset), string(got[0].Headers[0].Value))
		}
	}
}
