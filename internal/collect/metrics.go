package collect

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	requests *prometheus.CounterVec // by route and status code
	events   *prometheus.CounterVec // accepted or rejected
	full     prometheus.Counter
	latency  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, buffered func() float64) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_collect_requests_total",
			Help: "HTTP requests to the collector by route and status code.",
		}, []string{"route", "code"}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_collect_events_total",
			Help: "Events received: accepted (acknowledged by Kafka) or rejected (any non-2xx answer).",
		}, []string{"result"}),
		full: f.NewCounter(prometheus.CounterOpts{
			Name: "silt_collect_buffer_full_total",
			Help: "Requests answered 503 because the producer buffer was full.",
		}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "silt_collect_request_seconds",
			Help:    "Time from request start to the answer, including the wait for Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "silt_collect_buffered_events",
		Help: "Events handed to the producer and not yet acknowledged or failed.",
	}, buffered)
	return m
}
