package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ingestMetrics are registered once, in the default registry that silt
// run's /metrics serves; every ingest job in the process shares them.
var ingestMetrics = newMetrics(prometheus.DefaultRegisterer)

// metrics are the ingest job's Prometheus series.
type metrics struct {
	events      *prometheus.CounterVec // by topic
	rows        *prometheus.CounterVec // by table
	deadLetters *prometheus.CounterVec // by reason kind
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	files       *prometheus.CounterVec // by close reason
	batches     *prometheus.CounterVec // by outcome
	duration    prometheus.Histogram
	lag         *prometheus.GaugeVec // by topic, partition
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
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
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silt_ingest_batch_duration_seconds", Help: "Wall time of ingest batches.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_ingest_consumer_lag", Help: "Records between the committed offset and the high watermark, per partition, at the end of the last batch.",
		}, []string{"topic", "partition"}),
	}
	reg.MustRegister(m.events, m.rows, m.deadLetters, m.bytesIn, m.bytesOut, m.files, m.batches, m.duration, m.lag)
	return m
}
