package ingest

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBuckets bound silt_ingest_end_to_end_latency_seconds: a batch
// runs every few seconds to minutes, and a backlog can be hours old.
var latencyBuckets = []float64{0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}

// freshness is, per event table, the newest event time committed and how
// long committed records waited between their Kafka append and the end of
// their batch. It is a prometheus.Collector so that the age is computed at
// scrape time, on the injected clock: a table that stops receiving events
// grows older on /metrics without another batch.
type freshness struct {
	now func() time.Time

	mu     sync.Mutex
	tables map[string]*tableFreshness

	newestDesc, ageDesc, latencyDesc *prometheus.Desc
}

type tableFreshness struct {
	newest      time.Time // the newest event time committed, never after its commit
	committedAt time.Time // the end of the last batch that wrote the table
	// The last batch's range of latencies: its newest record's and its
	// oldest record's wait from Kafka append to commit.
	lastMin, lastMax time.Duration
	// A cumulative histogram of every committed record's latency.
	buckets []uint64 // count with latency <= latencyBuckets[i]
	count   uint64
	sum     float64
}

func newFreshness(now func() time.Time) *freshness {
	return &freshness{
		now: now, tables: map[string]*tableFreshness{},
		newestDesc: prometheus.NewDesc("silt_table_newest_event_timestamp_seconds",
			"Newest event time committed to the table by this process (Unix seconds; an event time later than its commit counts as the commit time).",
			[]string{"table"}, nil),
		ageDesc: prometheus.NewDesc("silt_table_freshness_seconds",
			"Age of the newest committed event at scrape time: now minus silt_table_newest_event_timestamp_seconds.",
			[]string{"table"}, nil),
		latencyDesc: prometheus.NewDesc("silt_ingest_end_to_end_latency_seconds",
			"Time from a record's Kafka append to the end of the batch that committed it to the lake (and registered it, where the catalog answered), per committed record.",
			[]string{"table"}, nil),
	}
}

func (f *freshness) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.newestDesc
	ch <- f.ageDesc
	ch <- f.latencyDesc
}

func (f *freshness) Collect(ch chan<- prometheus.Metric) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, t := range f.tables {
		ch <- prometheus.MustNewConstMetric(f.newestDesc, prometheus.GaugeValue, float64(t.newest.UnixMilli())/1e3, name)
		ch <- prometheus.MustNewConstMetric(f.ageDesc, prometheus.GaugeValue, now.Sub(t.newest).Seconds(), name)
		b := make(map[float64]uint64, len(latencyBuckets))
		for i, ub := range latencyBuckets {
			b[ub] = t.buckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(f.latencyDesc, t.count, t.sum, b, name)
	}
}

// TableFreshness is one table's freshness as this process committed it.
type TableFreshness struct {
	Table string
	// NewestEvent is the newest event time committed; Age is now minus it.
	NewestEvent time.Time
	Age         time.Duration
	// CommittedAt is when the last batch writing the table ended; its
	// records had waited LatencyMin (the newest) to LatencyMax (the
	// oldest) since their Kafka append.
	CommittedAt            time.Time
	LatencyMin, LatencyMax time.Duration
	// Records is how many committed records the latency histogram holds,
	// LatencyMean their mean latency.
	Records     uint64
	LatencyMean time.Duration
}

func (f *freshness) snapshot() []TableFreshness {
	now := f.now()
	f.mu.Lock()
	out := make([]TableFreshness, 0, len(f.tables))
	for name, t := range f.tables {
		tf := TableFreshness{Table: name, NewestEvent: t.newest, Age: now.Sub(t.newest), CommittedAt: t.committedAt,
			LatencyMin: t.lastMin, LatencyMax: t.lastMax, Records: t.count}
		if t.count > 0 {
			tf.LatencyMean = time.Duration(t.sum / float64(t.count) * float64(time.Second))
		}
		out = append(out, tf)
	}
	f.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Table < out[b].Table })
	return out
}

// commit adds a batch's tables, committed at committedAt.
func (f *freshness) commit(tables map[string]*batchFreshness, committedAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, bf := range tables {
		if bf.records == 0 {
			continue
		}
		t := f.tables[name]
		if t == nil {
			t = &tableFreshness{buckets: make([]uint64, len(latencyBuckets))}
			f.tables[name] = t
		}
		newest := time.UnixMilli(bf.newestEventMs)
		if newest.After(committedAt) {
			newest = committedAt // a producer's clock ahead of ours must not make a table look fresh for ever
		}
		if newest.After(t.newest) {
			t.newest = newest
		}
		t.committedAt = committedAt
		t.lastMin, t.lastMax = time.Duration(math.MaxInt64), 0
		commitMs := committedAt.UnixMilli()
		bf.appended.flush()
		for key, n := range bf.appended.counts {
			// The key's middle: records within one key are at most its
			// resolution apart.
			appendMs := key*bf.appended.resMs + bf.appended.resMs/2
			latency := max(time.Duration(commitMs-appendMs)*time.Millisecond, 0)
			t.lastMin, t.lastMax = min(t.lastMin, latency), max(t.lastMax, latency)
			secs := latency.Seconds()
			for i, ub := range latencyBuckets {
				if secs <= ub {
					t.buckets[i] += n
				}
			}
			t.count += n
			t.sum += secs * float64(n)
		}
	}
}

// batchFreshness is what one batch wrote to one table, for freshness.
type batchFreshness struct {
	records       uint64
	newestEventMs int64
	appended      appendTimes
}

func (bf *batchFreshness) add(eventTime time.Time, appendedAt time.Time) {
	ms := eventTime.UnixMilli()
	if bf.records == 0 || ms > bf.newestEventMs {
		bf.newestEventMs = ms
	}
	bf.records++
	bf.appended.add(appendedAt.UnixMilli())
}

// appendTimes counts Kafka append times (Unix millis) at a resolution that
// starts at 1 ms and doubles whenever more than maxAppendKeys distinct
// keys are held, so a batch of millions of records spread over days holds
// a few thousand counters, and consecutive records of one key (the common
// case: a partition's records arrive in append order) cost a comparison.
type appendTimes struct {
	resMs   int64
	counts  map[int64]uint64
	lastKey int64
	lastN   uint64 // records of lastKey not yet in counts
}

const maxAppendKeys = 4096

func (a *appendTimes) add(ms int64) {
	if a.counts == nil {
		a.resMs, a.counts, a.lastKey = 1, map[int64]uint64{}, math.MinInt64
	}
	key := floorDiv(ms, a.resMs)
	if key == a.lastKey {
		a.lastN++
		return
	}
	a.flush() // may coarsen: the key is taken again
	a.lastKey, a.lastN = floorDiv(ms, a.resMs), 1
}

// flush moves the pending run into counts, coarsening as needed.
func (a *appendTimes) flush() {
	if a.lastN == 0 {
		return
	}
	a.counts[a.lastKey] += a.lastN
	a.lastN = 0
	for len(a.counts) > maxAppendKeys {
		coarser := make(map[int64]uint64, len(a.counts)/2+1)
		for k, n := range a.counts {
			coarser[floorDiv(k, 2)] += n
		}
		a.counts, a.resMs = coarser, a.resMs*2
		a.lastKey = math.MinInt64
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
