//go:build integration

package deadletters

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// replayed is every record in topic, by its ReplayHeader.
func replayed(t *testing.T, brokers []string, topic string) map[string][][]byte {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(brokers...)))
	ends, err := adm.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	out := map[string][][]byte{}
	if total == 0 {
		return out
	}
	cl := mustClient(t, kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var n int64
	for n < total {
		fs := cl.PollFetches(ctx)
		require.NoError(t, fs.Err())
		fs.EachRecord(func(r *kgo.Record) {
			n++
			for _, h := range r.Headers {
				if h.Key == ReplayHeader {
					out[string(h.Value)] = append(out[string(h.Value)], r.Value)
				}
			}
		})
	}
	return out
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func coords(l Letter) string { return fmt.Sprintf("%s/%d/%d", l.Topic, l.Partition, l.Offset) }

// Against the stack's real Kafka: dead letters ingest wrote are replayed
// to a topic once each, byte for byte (the non-UTF-8 one too); a second
// replay sends nothing; a replay that stopped after producing is finished
// without producing again, one that stopped before producing produces
// once, and one that another replay holds is left alone.
func TestReplayDeadLettersExactlyOnceIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	ctx := context.Background()
	src := fmt.Sprintf("replay-src-%d", time.Now().UnixNano())
	dst := src + "-fixed"
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(ep.KafkaBrokers...)))
	_, err := adm.CreateTopic(ctx, 2, 1, nil, src)
	require.NoError(t, err)
	_, err = adm.CreateTopic(ctx, 2, 1, nil, dst)
	require.NoError(t, err)
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)

	opts := ingest.DefaultOptions()
	opts.Kafka.Brokers, opts.Kafka.Topics, opts.Kafka.Group = ep.KafkaBrokers, []string{src}, src
	opts.SpoolDir = t.TempDir()
	opts.MaxWait = 30 * time.Second
	j := ingest.New(opts, store)
	defer j.Close()
	producer := mustClient(t, kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(src))
	// ingestBad produces values to src and ingests until they are dead letters.
	ingestBad := func(values ...[]byte) {
		t.Helper()
		for _, v := range values {
			require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr())
		}
		var dead int64
		for range 10 {
			st, err := j.RunBatch(ctx)
			require.NoError(t, err)
			if dead += st.DeadLetters; dead == int64(len(values)) {
				return
			}
		}
		t.Fatalf("%d of %d dead letters ingested", dead, len(values))
	}
	ingestBad([]byte(`{"event_type":"join guild!"}`), []byte("\xff\xfe{\"event_type\":\"x\"}"), []byte(`{"no_type":1}`))

	r := NewReader(store, "")
	defer func() { _ = r.Close() }()
	read := func() []Letter {
		sum, err := r.Read(ctx, Filter{})
		require.NoError(t, err)
		return sum.Latest
	}
	first := read()
	require.Len(t, first, 3)

	base := time.Now()
	rep := &Replayer{Store: store, Client: mustClient(t, kgo.SeedBrokers(ep.KafkaBrokers...)), Topic: dst, By: "test", Now: func() time.Time { return base }}
	outs, err := rep.Replay(ctx, first)
	require.NoError(t, err)
	for _, o := range outs {
		require.Equal(t, "replayed", o.Status, coords(o.Letter))
	}
	got := replayed(t, ep.KafkaBrokers, dst)
	require.Len(t, got, 3)
	for _, l := range first {
		want := []byte(l.Raw)
		if l.RawBase64 != "" {
			want = []byte("\xff\xfe{\"event_type\":\"x\"}")
		}
		require.Equal(t, [][]byte{want}, got[coords(l)], "exactly the original bytes, once")
	}

	// Again: nothing is sent.
	outs, err = rep.Replay(ctx, first)
	require.NoError(t, err)
	for _, o := range outs {
		require.Equal(t, "already", o.Status)
	}
	require.Len(t, replayed(t, ep.KafkaBrokers, dst), 3)

	// Three more dead letters, whose replays "crashed" earlier: the first
	// after producing, the second before; the third is claimed by a
	// replay still running.
	ingestBad([]byte(`crashed after`), []byte(`crashed before`), []byte(`held elsewhere`))
	more := read()[:3] // newest first
	byRaw := map[string]Letter{}
	for _, l := range more {
		byRaw[l.Raw] = l
	}
	ends, err := rep.endOffsets(ctx)
	require.NoError(t, err)
	claim := func(l Letter, at time.Time) {
		raw, _ := json.Marshal(replayMarker{State: "pending", To: dst, By: "crashed", Claimed: at, EndsAt: ends})
		_, err := store.Create(ctx, ReplayKey(l), raw)
		require.NoError(t, err)
	}
	old := base.Add(-10 * time.Minute)
	claim(byRaw["crashed after"], old)
	require.NoError(t, rep.Client.ProduceSync(ctx, &kgo.Record{Topic: dst, Value: []byte("crashed after"),
		Headers: []kgo.RecordHeader{{Key: ReplayHeader, Value: []byte(coords(byRaw["crashed after"]))}}}).FirstErr())
	claim(byRaw["crashed before"], old)
	claim(byRaw["held elsewhere"], base.Add(-10*time.Second))

	outs, err = rep.Replay(ctx, append(more, first...))
	require.NoError(t, err)
	status := map[string]string{}
	for _, o := range outs {
		status[o.Letter.Raw] = o.Status
	}
	require.Equal(t, "recovered", status["crashed after"])
	require.Equal(t, "replayed", status["crashed before"])
	require.Equal(t, "in_progress", status["held elsewhere"])
	got = replayed(t, ep.KafkaBrokers, dst)
	require.Len(t, got, 5, "three earlier, crashed after (once), crashed before")
	for k, vs := range got {
		require.Len(t, vs, 1, "%s replayed more than once", k)
	}
	require.Empty(t, got[coords(byRaw["held elsewhere"])])

	// Once its claim times out, the held one is finished by the next replay.
	rep.Now = func() time.Time { return base.Add(5 * time.Minute) }
	outs, err = rep.Replay(ctx, []Letter{byRaw["held elsewhere"], byRaw["crashed after"]})
	require.NoError(t, err)
	require.Equal(t, "replayed", outs[0].Status)
	require.Equal(t, "already", outs[1].Status)
	got = replayed(t, ep.KafkaBrokers, dst)
	require.Len(t, got, 6)
	for k, vs := range got {
		require.Len(t, vs, 1, "%s replayed more than once", k)
	}
}
