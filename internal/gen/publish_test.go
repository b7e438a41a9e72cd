package gen

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/collect"
	"github.com/silt-etl/silt/internal/config"
)

func fakeKafka(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "events"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// countTopic counts the topic's events by type and Host field.
func countTopic(t *testing.T, brokers []string) map[Key]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "events")
	require.NoError(t, err)
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	got := map[Key]int64{}
	var n int64
	for n < want {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err())
		fs.EachRecord(func(r *kgo.Record) {
			var m struct {
				Type string `json:"event_type"`
				Host string `json:"Host"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &m))
			got[Key{m.Type, m.Host}]++
			n++
		})
	}
	return got
}

func sum(m map[Key]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestRunToKafkaCountsMatchTopic(t *testing.T) {
	brokers := fakeKafka(t)
	sink, err := NewKafkaSink(brokers, "events", "all")
	require.NoError(t, err)
	res, err := Run(context.Background(), Options{Seed: 7, Count: 2500, Batch: 64}, sink)
	require.NoError(t, err)
	require.Equal(t, int64(2500), res.Sent)
	require.Equal(t, int64(2500), res.Accepted)
	require.Zero(t, res.Errors)
	require.Equal(t, int64(2500), sum(res.PerKey))
	require.Len(t, res.PerKey, 9) // 3 hosts x 3 types at this size
	require.Equal(t, res.PerKey, countTopic(t, brokers))
}

func TestSameSeedSameEvents(t *testing.T) {
	run := func() map[Key]int64 {
		sink, err := NewKafkaSink(fakeKafka(t), "events", "leader")
		require.NoError(t, err)
		res, err := Run(context.Background(), Options{Seed: 42, Count: 500, Workers: 1}, sink)
		require.NoError(t, err)
		return res.PerKey
	}
	require.Equal(t, run(), run())
}

func startCollector(t *testing.T, brokers []string) string {
	t.Helper()
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	col, err := collect.New(cfg, collect.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = col.Close(context.Background())
	})
	return srv.URL
}

func TestRunThroughCollectorPost(t *testing.T) {
	brokers := fakeKafka(t)
	url := startCollector(t, brokers)
	res, err := Run(context.Background(), Options{Seed: 3, Count: 1000, Batch: 50, Workers: 4},
		NewHTTPSink(url, "", nil, 4))
	require.NoError(t, err)
	require.Equal(t, int64(1000), res.Accepted, "first error: %v", res.FirstErr)
	require.Equal(t, res.PerKey, countTopic(t, brokers))
}

func TestRunThroughCollectorGetRoutes(t *testing.T) {
	brokers := fakeKafka(t)
	url := startCollector(t, brokers)
	routes := map[string]string{"default": "/", "purchase_sword": "/purchase_a_sword", "join_guild": "/join_the_guild"}
	res, err := Run(context.Background(), Options{Seed: 5, Count: 150, Workers: 4, Batch: 1},
		NewHTTPSink(url, "", routes, 4))
	require.NoError(t, err)
	require.Equal(t, int64(150), res.Accepted, "first error: %v", res.FirstErr)
	// The Host header carried the host, as ApacheBench's -H did.
	require.Equal(t, res.PerKey, countTopic(t, brokers))
}

func TestRunForDurationStopsCleanly(t *testing.T) {
	sink, err := NewKafkaSink(fakeKafka(t), "events", "all")
	require.NoError(t, err)
	res, err := Run(context.Background(), Options{Seed: 1, Rate: 500, Duration: 300 * time.Millisecond}, sink)
	require.NoError(t, err)
	require.Positive(t, res.Sent)
	require.Equal(t, res.Sent, res.Accepted)
}

func TestWeighted(t *testing.T) {
	got, err := Weighted([]string{"purchase_sword=3", "default", "join_guild=0", "game-1.example.com:8080=2"})
	require.NoError(t, err)
	require.Equal(t, []string{"purchase_sword", "purchase_sword", "purchase_sword", "default",
		"game-1.example.com:8080", "game-1.example.com:8080"}, got)
	_, err = Weighted([]string{"x=many"})
	require.Error(t, err)
	_, err = Weighted([]string{"x=20000"})
	require.Error(t, err)
}
