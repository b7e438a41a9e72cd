package ingest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func gatherFamilies(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func metricOf(t *testing.T, f *dto.MetricFamily, table string) *dto.Metric {
	t.Helper()
	require.NotNil(t, f)
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "table" && l.GetValue() == table {
				return m
			}
		}
	}
	t.Fatalf("%s has no series for table %s", f.GetName(), table)
	return nil
}

// Freshness is measured on the injected clock: the newest committed event
// time per table, its age at scrape time (growing without another batch),
// and every committed record's wait from its Kafka append to the commit.
func TestFreshnessAndLatencyOnTheInjectedClock(t *testing.T) {
	s := newSetup(t)
	appended := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// 3 purchases with event times 09:00..09:02 appended at 10:00:00,
	// :10, :20; 2 joins, one of them with an event time in the future
	// (a producer's clock ahead), appended at 10:00:30 and :40; and a dead
	// letter, which is no table's freshness.
	var recs []*kgo.Record
	add := func(value string, at time.Time) {
		recs = append(recs, &kgo.Record{Topic: "events", Partition: int32(len(recs) % 3), Value: []byte(value), Timestamp: at})
	}
	for i := range 3 {
		add(fmt.Sprintf(`{"event_type":"purchase_sword","timestamp":"2026-11-22T09:0%d:00Z"}`, i), appended.Add(time.Duration(i)*10*time.Second))
	}
	add(`{"event_type":"join_guild","timestamp":"2026-11-22T09:30:00Z"}`, appended.Add(30*time.Second))
	add(`{"event_type":"join_guild","timestamp":"2030-01-01T00:00:00Z"}`, appended.Add(40*time.Second))
	add(`not json`, appended.Add(50*time.Second))
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.opts.Kafka.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	cl.Close()

	clock := &fakeClock{t: appended.Add(time.Minute)} // the batch commits at 10:01:00
	reg := prometheus.NewRegistry()
	opts := s.opts
	opts.Metrics = NewMetricsAt(reg, clock.now)
	j := New(opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 6, st.Events)
	require.EqualValues(t, 1, st.DeadLetters)

	fams := gatherFamilies(t, reg)
	commit := appended.Add(time.Minute)
	newest := fams["silt_table_newest_event_timestamp_seconds"]
	require.Len(t, newest.GetMetric(), 2, "event tables only, not the dead letters")
	require.Equal(t, float64(time.Date(2026, 11, 22, 9, 2, 0, 0, time.UTC).Unix()), metricOf(t, newest, "purchase_sword").GetGauge().GetValue())
	require.Equal(t, float64(commit.Unix()), metricOf(t, newest, "join_guild").GetGauge().GetValue(),
		"an event time after its commit counts as the commit time")
	age := fams["silt_table_freshness_seconds"]
	require.Equal(t, (time.Hour - time.Minute).Seconds(), metricOf(t, age, "purchase_sword").GetGauge().GetValue()) // 10:01 - 09:02
	require.Equal(t, 0.0, metricOf(t, age, "join_guild").GetGauge().GetValue())

	// Latency: purchases waited 60, 50 and 40 s; joins 30 and 20 s.
	h := metricOf(t, fams["silt_ingest_end_to_end_latency_seconds"], "purchase_sword").GetHistogram()
	require.EqualValues(t, 3, h.GetSampleCount())
	require.InDelta(t, 150.0, h.GetSampleSum(), 1e-9)
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	require.EqualValues(t, 0, cum[30])
	require.EqualValues(t, 3, cum[60])
	h = metricOf(t, fams["silt_ingest_end_to_end_latency_seconds"], "join_guild").GetHistogram()
	require.EqualValues(t, 2, h.GetSampleCount())
	require.InDelta(t, 50.0, h.GetSampleSum(), 1e-9)

	// Ten minutes later, no batch: the age grows on /metrics by itself.
	clock.set(commit.Add(10 * time.Minute))
	fams = gatherFamilies(t, reg)
	require.Equal(t, (time.Hour + 9*time.Minute).Seconds(), metricOf(t, fams["silt_table_freshness_seconds"], "purchase_sword").GetGauge().GetValue())
	require.Equal(t, (10 * time.Minute).Seconds(), metricOf(t, fams["silt_table_freshness_seconds"], "join_guild").GetGauge().GetValue())

	// The status page's view says the same.
	got := opts.Metrics.Freshness()
	require.Len(t, got, 2)
	require.Equal(t, "join_guild", got[0].Table)
	require.Equal(t, TableFreshness{
		Table: "purchase_sword", NewestEvent: time.Date(2026, 11, 22, 9, 2, 0, 0, time.UTC).Local(), Age: time.Hour + 9*time.Minute,
		CommittedAt: commit, LatencyMin: 40 * time.Second, LatencyMax: time.Minute, Records: 3, LatencyMean: 50 * time.Second,
	}, normalize(got[1]))
	require.Equal(t, 20*time.Second, got[0].LatencyMin)
	require.Equal(t, 30*time.Second, got[0].LatencyMax)
}

func normalize(tf TableFreshness) TableFreshness {
	tf.NewestEvent = tf.NewestEvent.Local()
	return tf
}

// Append times spread over more distinct milliseconds than maxAppendKeys
// are held at a coarser resolution: every record still counted, each
// within the resolution of its true time.
func TestAppendTimesCoarsenWithoutLosingRecords(t *testing.T) {
	var a appendTimes
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	const n = 50_000
	for i := range n {
		a.add(base + int64(i)*7) // 7 ms apart: 50k distinct keys at 1 ms
	}
	a.flush()
	require.LessOrEqual(t, len(a.counts), maxAppendKeys)
	require.Greater(t, a.resMs, int64(1))
	var total uint64
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k, c := range a.counts {
		total += c
		lo, hi = min(lo, k*a.resMs), max(hi, (k+1)*a.resMs)
	}
	require.EqualValues(t, n, total)
	require.LessOrEqual(t, lo, base)
	require.Greater(t, lo, base-a.resMs)
	require.GreaterOrEqual(t, hi, base+(n-1)*7)
	require.Less(t, hi, base+(n-1)*7+a.resMs+1)
}

// BenchmarkFreshnessPerRecord is what freshness adds to each written row:
// the table lookup as batch.write does it (tables interleaved, as game
// events are) and batchFreshness.add, records in append order.
func BenchmarkFreshnessPerRecord(b *testing.B) {
	tables := []string{"purchase_sword", "join_guild", "default"}
	fresh := map[string]*batchFreshness{}
	var curTable string
	var cur *batchFreshness
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		name := tables[i%3]
		if name != curTable || cur == nil {
			if cur = fresh[name]; cur == nil {
				cur = &batchFreshness{}
				fresh[name] = cur
			}
			curTable = name
		}
		at := base.Add(time.Duration(i) * 2 * time.Microsecond) // 500k records/s
		cur.add(at, at)
	}
}
