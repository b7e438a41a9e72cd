package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	runs        *prometheus.CounterVec
	retries     *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
	// Cluster-wide jobs (leases).
	elsewhere *prometheus.CounterVec
	leaseLost *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_job_runs_total",
			Help: "Job runs by final status: ok, failed, or skipped (due while the last run still ran).",
		}, []string{"job", "status"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_job_retries_total",
			Help: "Attempts of a job beyond the first, after a failure.",
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_job_last_success_timestamp_seconds",
			Help: "Unix time at which the job last ended successfully.",
		}, []string{"job"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "silt_job_run_duration_seconds",
			Help:    "Duration of job runs that executed, retries included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"job"}),
		elsewhere: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_job_runs_elsewhere_total",
			Help: "Slots of a cluster-wide job this process left to another silt process sharing the lake: it took the slot's lease first, or still ran an earlier slot.",
		}, []string{"job"}),
		leaseLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_job_lease_lost_total",
			Help: "Runs of a cluster-wide job cancelled here because their lease could not be kept: renewal found another process holding it, or it expired unrenewed.",
		}, []string{"job"}),
	}
	reg.MustRegister(m.runs, m.retries, m.lastSuccess, m.duration, m.elsewhere, m.leaseLost)
	return m
}

// init makes every job's series exist from the start, so a dashboard shows 0
// rather than nothing before the first failure.
func (m *metrics) init(job string, clusterWide bool) {
	for _, s := range []string{StatusOK, StatusFailed, StatusSkipped} {
		m.runs.WithLabelValues(job, s)
	}
	m.retries.WithLabelValues(job)
	if clusterWide {
		m.elsewhere.WithLabelValues(job)
		m.leaseLost.WithLabelValues(job)
	}
}

// restore sets the last-success gauge from the persisted history, so that
// a restart does not reset it to absent (an alert on its age would fire,
// or a dashboard show "never", right after every deploy).
func (m *metrics) restore(job string, end time.Time) {
	m.lastSuccess.WithLabelValues(job).Set(unixSeconds(end))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (m *metrics) observe(r Run) {
	m.runs.WithLabelValues(r.Job, r.Status).Inc()
	if r.Status == StatusSkipped {
		return
	}
	m.duration.WithLabelValues(r.Job).Observe(r.Duration().Seconds())
	if r.Attempts > 1 {
		m.retries.WithLabelValues(r.Job).Add(float64(r.Attempts - 1))
	}
	if r.Status == StatusOK {
		m.lastSuccess.WithLabelValues(r.Job).Set(unixSeconds(r.End))
	}
}
