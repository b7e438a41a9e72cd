package ingest

import (
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ingest jobs' Prometheus series, and the consumer lag
// they last saw, for the status page. Make one per process and give it to
// every ingest job (Options.Metrics): a registry takes a series once.
type Metrics struct {
	events      *prometheus.CounterVec // by topic
	rows        *prometheus.CounterVec // by table
	deadLetters *prometheus.CounterVec // by reason kind
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	files       *prometheus.CounterVec // by close reason
	batches     *prometheus.CounterVec // by outcome
	// registrations counts catalog registrations after committed batches
	// by outcome: a failure does not fail its batch, so this is where a
	// catalog that keeps refusing (a wrong CA, a metastore down) shows.
	registrations *prometheus.CounterVec
	duration      prometheus.Histogram
	lag           *prometheus.GaugeVec // by topic, partition
	fresh         *freshness

	mu      sync.Mutex
	lastLag map[tp]int64
}

// NewMetrics makes the series and registers them on reg (nil: on no
// registry, for a job whose metrics nobody reads).
func NewMetrics(reg prometheus.Registerer) *Metrics { return NewMetricsAt(reg, time.Now) }

// NewMetricsAt is NewMetrics with the clock that the freshness series
// (silt_table_freshness_seconds) measure ages on.
func NewMetricsAt(reg prometheus.Registerer, now func() time.Time) *Metrics {
	m := &Metrics{lastLag: map[tp]int64{}, fresh: newFreshness(now),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_ingest_events_total", Help: "Kafka records consumed and written (to an event table or the dead-letter table).",
		}, []string{"topic"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_ingest_rows_total", Help: "Rows written to the lake, per table (committed batches only).",
		}, []string{"table"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_ingest_dead_letters_total", Help: "Records sent to the dead-letter table, per reason.",
		}, []string{"reason"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_ingest_bytes_in_total", Help: "Kafka record value bytes consumed.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_ingest_bytes_written_total", Help: "Parquet bytes uploaded to the lake.",
		}),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_ingest_files_total", Help: "Parquet objects uploaded, by why they were closed.",
		}, []string{"reason"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_ingest_batches_total", Help: "Ingest batches, by outcome.",
		}, []string{"outcome"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_ingest_registrations_total", Help: "Catalog registrations after committed batches, by outcome (failed: the batch's data is in the lake and the next batch repairs the catalog from it).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silt_ingest_batch_duration_seconds", Help: "Wall time of ingest batches.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_ingest_consumer_lag", Help: "Records between the committed offset and the high watermark, per partition, at the end of the last batch.",
		}, []string{"topic", "partition"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.rows, m.deadLetters, m.bytesIn, m.bytesOut, m.files, m.batches, m.registrations, m.duration, m.lag, m.fresh)
	}
	return m
}

// setLag records the group's lag on one partition.
func (m *Metrics) setLag(k tp, lag int64) {
	m.lag.WithLabelValues(k.topic, strconv.Itoa(int(k.part))).Set(float64(lag))
	m.mu.Lock()
	m.lastLag[k] = lag
	m.mu.Unlock()
}

// PartitionLag is how far the consumer group is behind on one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// Lag is the consumer lag per partition at the end of the last batch of
// any ingest job using m (what silt_ingest_consumer_lag says), sorted by
// topic and partition.
func (m *Metrics) Lag() []PartitionLag {
	m.mu.Lock()
	out := make([]PartitionLag, 0, len(m.lastLag))
	for k, lag := range m.lastLag {
		out = append(out, PartitionLag{Topic: k.topic, Partition: k.part, Lag: lag})
	}
	m.mu.Unlock()
	sort.Slice(out, func(a, b int) bool {
		if out[a].Topic != out[b].Topic {
			return out[a].Topic < out[b].Topic
		}
		return out[a].Partition < out[b].Partition
	})
	return out
}

// Freshness is, per event table this process committed to, the newest
// event time committed, its age now, and the end-to-end latency of the
// committed records (what silt_table_freshness_seconds and
// silt_ingest_end_to_end_latency_seconds say), sorted by table.
func (m *Metrics) Freshness() []TableFreshness { return m.fresh.snapshot() }
