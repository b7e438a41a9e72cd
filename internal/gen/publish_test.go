package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
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
	sink, err := NewKafkaSink(context.Background(), brokers, "events", "all")
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
		sink, err := NewKafkaSink(context.Background(), fakeKafka(t), "events", "leader")
		require.NoError(t, err)
		res, err := Run(context.Background(), Options{Seed: 42, Count: 500, Workers: 1}, sink)
		require.NoError(t, err)
		return res.PerKey
	}
	first, second := run(), run()
	require.Equal(t, first, second)
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
	sink, err := NewKafkaSink(context.Background(), fakeKafka(t), "events", "all")
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

func TestWeightedRejectsAllZero(t *testing.T) {
	_, err := Weighted([]string{"purchase_sword=0", "default=0"})
	require.EqualError(t, err, "purchase_sword=0,default=0: every weight is 0: give at least one a weight above 0")
	got, err := Weighted(nil)
	require.NoError(t, err)
	require.Nil(t, got, "no list: the defaults")

	// Run says which list is wrong and publishes nothing.
	sink := &memSink{}
	_, err = Run(context.Background(), Options{Count: 10, EventTypes: []string{"x=0"}}, sink)
	require.ErrorContains(t, err, "event types: x=0: every weight is 0")
	_, err = Run(context.Background(), Options{Count: 10, Hosts: []string{"h=0", "g=0"}}, sink)
	require.ErrorContains(t, err, "hosts: h=0,g=0: every weight is 0")
	require.Empty(t, sink.events)
}

// memSink keeps every event it is sent and fails those of type fail.
type memSink struct {
	mu     sync.Mutex
	events []Event
	fail   string
}

func (m *memSink) Send(_ context.Context, batch []Event, done func(Event, error)) {
	m.mu.Lock()
	m.events = append(m.events, batch...)
	m.mu.Unlock()
	for _, ev := range batch {
		var err error
		if ev.Type == m.fail {
			err = errors.New("refused")
		}
		done(ev, err)
	}
}

func (m *memSink) Close(context.Context) error { return nil }

// Run publishes exactly the configured event types and hosts, in
// proportion to their weights, and a weight of 0 leaves a name out.
func TestRunCustomTypesHostsWeights(t *testing.T) {
	sink := &memSink{}
	o := Options{Seed: 9, Count: 4000, Batch: 50,
		EventTypes: []string{"login=3", "logout", "never=0"},
		Hosts:      []string{"eu-1.example.net", "us-1.example.net:8080=2", "off.example.net=0"}}
	res, err := Run(context.Background(), o, sink)
	require.NoError(t, err)
	require.Equal(t, int64(4000), res.Accepted)
	require.Len(t, sink.events, 4000)

	types, hosts := map[string]int{}, map[string]int{}
	perKey := map[Key]int64{}
	for _, ev := range sink.events {
		// The JSON carries what the event says it is.
		var m struct {
			Type string `json:"event_type"`
			Host string `json:"Host"`
		}
		require.NoError(t, json.Unmarshal(ev.JSON, &m), "%s", ev.JSON)
		require.Equal(t, ev.Type, m.Type)
		require.Equal(t, ev.Host, m.Host)
		types[ev.Type]++
		hosts[ev.Host]++
		perKey[Key{ev.Type, ev.Host}]++
	}
	require.ElementsMatch(t, []string{"login", "logout"}, keys(types))
	require.ElementsMatch(t, []string{"eu-1.example.net", "us-1.example.net:8080"}, keys(hosts))
	require.Equal(t, perKey, res.PerKey)
	// 3:1 and 1:2 within a few percent (the seed makes this exact run by run).
	require.InDelta(t, 0.75, float64(types["login"])/4000, 0.03, "%v", types)
	require.InDelta(t, 2.0/3, float64(hosts["us-1.example.net:8080"])/4000, 0.03, "%v", hosts)
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The progress line says how long, the rate, and the running totals; the
// last one, printed when Run ends, has the final counts.
func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	sink := &memSink{fail: "bad"}
	res, err := Run(context.Background(), Options{Seed: 4, Count: 300, Batch: 30,
		EventTypes: []string{"ok=2", "bad"}, Progress: &out}, sink)
	require.NoError(t, err)
	require.Equal(t, int64(300), res.Sent)
	require.Positive(t, res.Errors)
	require.Equal(t, int64(300), res.Accepted+res.Errors)
	require.EqualError(t, res.FirstErr, "refused")

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.NotEmpty(t, lines)
	re := regexp.MustCompile(`^gen: +(\d+\.\d)s  rate +(\d+)/s  sent (\d+) of 300 \((\d+)%\)  accepted (\d+)  errors (\d+)(  ETA \S+)?$`)
	for _, l := range lines {
		require.Regexp(t, re, l)
	}
	last := re.FindStringSubmatch(lines[len(lines)-1])
	require.Equal(t, []string{"300", "100", fmt.Sprint(res.Accepted), fmt.Sprint(res.Errors), ""}, last[3:])
}

// The ETA is what is left at the average rate so far; done, there is none;
// without a count, neither share nor ETA.
func TestProgressLineETA(t *testing.T) {
	require.Equal(t, "gen:   10.0s  rate      250/s  sent 2500 of 10000 (25%)  accepted 2490  errors 10  ETA 30s",
		progressLine(10*time.Second, 250, 2500, 10000, 2490, 10))
	require.Equal(t, "gen:    0.0s  rate        0/s  sent 0 of 10 (0%)  accepted 0  errors 0  ETA unknown",
		progressLine(0, 0, 0, 10, 0, 0))
	require.Equal(t, "gen:    4.0s  rate       10/s  sent 10 of 10 (100%)  accepted 10  errors 0",
		progressLine(4*time.Second, 10, 10, 10, 10, 0))
	require.Equal(t, "gen:    4.0s  rate       10/s  sent 40  accepted 40  errors 0",
		progressLine(4*time.Second, 10, 40, 0, 40, 0))
}

// The token bucket holds the rate. 0.5 s at 400/s is the 40 saved up
// (a tenth of a second) plus about 200: going under 100 would take a stall
// of 0.35 s, not a busy machine. Over the top, the bucket must never let out
// more than what is saved up, plus the rate over the time Run actually
// took (a stalled process notices its deadline late), plus the one batch
// it may take in debt; a broken bucket, or none, sends thousands.
func TestRunHoldsTheRate(t *testing.T) {
	sink := &memSink{}
	res, err := Run(context.Background(), Options{Seed: 2, Rate: 400, Duration: 500 * time.Millisecond, Batch: 10, Workers: 1}, sink)
	require.NoError(t, err)
	t.Logf("sent %d in %s", res.Sent, res.Elapsed)
	require.Equal(t, res.Sent, res.Accepted)
	require.Equal(t, res.Sent, int64(len(sink.events)))
	require.GreaterOrEqual(t, res.Sent, int64(100))
	require.LessOrEqual(t, float64(res.Sent), 40+10+400*res.Elapsed.Seconds())
}
