package web

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/silt-etl/silt/scheduler"
)

// Point is one value of a time series.
type Point struct {
	At    time.Time
	Value float64
}

// ring keeps the newest cap points of one series, oldest first.
type ring struct {
	buf   []Point
	start int
	n     int
}

func newRing(capacity int) *ring { return &ring{buf: make([]Point, capacity)} }

func (r *ring) add(p Point) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = p
		r.n++
		return
	}
	r.buf[r.start] = p
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring) points() []Point {
	out := make([]Point, r.n)
	for i := range r.n {
		out[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	return out
}

// RunHistory is what the charts read of the scheduler's run history
// (scheduler.History).
type RunHistory interface {
	Last(job string, n int) []scheduler.Run
}

// TimeSeriesOptions configure NewTimeSeries.
type TimeSeriesOptions struct {
	// Interval between samples; default 10 s.
	Interval time.Duration
	// Points kept per series; default 360 (an hour at 10 s).
	Points int
	// JobNames are the jobs whose runs the history holds.
	JobNames []string
	// History is the run history: events/s, dead letters/min and job
	// durations come from it, so they can be rebuilt after a restart.
	History RunHistory
	// HistoryRuns is how many runs per job to read (the history keeps
	// scheduler.DefaultKeep); default scheduler.DefaultKeep.
	HistoryRuns int
	// Lag and Freshness are sampled as they are now; they are not in the
	// run history, so after a restart their charts start empty.
	Lag       Lag
	Freshness Freshness
	Now       func() time.Time
}

// TimeSeries keeps the status page's charts: a ring of Points per series,
// sampled every Interval.
//
// Rates are bucketed on Interval boundaries from the run history (the sum
// of the counts of runs that ended in each bucket), so a process that
// starts fresh rebuilds the same points a long-running one recorded: the
// first Sample looks back over the whole window.
type TimeSeries struct {
	opts TimeSeriesOptions

	mu sync.Mutex
	// charted is the end of the newest rate bucket already added.
	charted     time.Time
	events      *ring
	deadLetters *ring
	lag         map[string]*ring
	freshness   map[string]*ring
	durations   map[string]*ring
	// seenEnd is, per job, the end of the newest run already charted.
	seenEnd map[string]time.Time
}

// NewTimeSeries builds empty series; Sample (or Run) fills them.
func NewTimeSeries(opts TimeSeriesOptions) *TimeSeries {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Points <= 0 {
		opts.Points = 360
	}
	if opts.HistoryRuns <= 0 {
		opts.HistoryRuns = scheduler.DefaultKeep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &TimeSeries{
		opts: opts, events: newRing(opts.Points), deadLetters: newRing(opts.Points),
		lag: map[string]*ring{}, freshness: map[string]*ring{}, durations: map[string]*ring{},
		seenEnd: map[string]time.Time{},
	}
}

// Run samples every Interval until ctx ends.
func (ts *TimeSeries) Run(ctx context.Context) error {
	ts.Sample(ctx)
	t := time.NewTicker(ts.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			ts.Sample(ctx)
		}
	}
}

// Window is the span the charts cover, ending now.
func (ts *TimeSeries) Window() time.Duration {
	return time.Duration(ts.opts.Points) * ts.opts.Interval
}

// Sample adds what happened since the last sample: complete rate buckets
// from the run history, the runs' durations, lag and freshness now.
func (ts *TimeSeries) Sample(ctx context.Context) {
	now := ts.opts.Now()
	runs := ts.readRuns()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.addRates(runs, now)
	ts.addDurations(runs, now)
	if ts.opts.Lag != nil {
		if lags, err := ts.opts.Lag.Lag(ctx); err == nil {
			perTopic := map[string]int64{}
			for _, l := range lags {
				perTopic[l.Topic] += l.Lag
			}
			for topic, n := range perTopic {
				ts.series(ts.lag, topic).add(Point{At: now, Value: float64(n)})
			}
		}
	}
	if ts.opts.Freshness != nil {
		if fresh, err := ts.opts.Freshness.Freshness(ctx); err == nil {
			for _, f := range fresh {
				ts.series(ts.freshness, f.Table).add(Point{At: now, Value: f.Age.Seconds()})
			}
		}
	}
}

func (ts *TimeSeries) series(m map[string]*ring, name string) *ring {
	r, ok := m[name]
	if !ok {
		r = newRing(ts.opts.Points)
		m[name] = r
	}
	return r
}

// jobRuns is one job's runs as the history answered, oldest first;
// truncated says the history may hold older ones it did not return.
type jobRuns struct {
	job       string
	runs      []scheduler.Run
	truncated bool
}

func (ts *TimeSeries) readRuns() []jobRuns {
	if ts.opts.History == nil {
		return nil
	}
	out := make([]jobRuns, 0, len(ts.opts.JobNames))
	for _, job := range ts.opts.JobNames {
		last := ts.opts.History.Last(job, ts.opts.HistoryRuns)
		runs := make([]scheduler.Run, len(last))
		for i, r := range last {
			runs[len(last)-1-i] = r
		}
		out = append(out, jobRuns{job: job, runs: runs, truncated: len(last) >= ts.opts.HistoryRuns})
	}
	return out
}

// addRates adds the events/s and dead letters/min buckets that are
// complete. A bucket is complete one Interval after it ends: a run is
// recorded in the history a moment after its end, and a bucket charted
// before its last run arrived would differ from the one a restart
// rebuilds.
func (ts *TimeSeries) addRates(runs []jobRuns, now time.Time) {
	last := now.Truncate(ts.opts.Interval).Add(-ts.opts.Interval)
	from := ts.charted
	if from.IsZero() {
		from = last.Add(-ts.Window())
		// Up to the oldest run a truncated history returned, the counts
		// are unknown, not zero: older runs of the bucket it ended in were
		// dropped, so charting starts with the next bucket.
		for _, jr := range runs {
			if jr.truncated && len(jr.runs) > 0 && hasEvents(jr.runs[0]) {
				oldest := jr.runs[0].End
				first := oldest.Truncate(ts.opts.Interval)
				if first.Before(oldest) {
					first = first.Add(ts.opts.Interval)
				}
				if first.After(from) {
					from = first
				}
			}
		}
	}
	for end := from.Add(ts.opts.Interval); !end.After(last); end = end.Add(ts.opts.Interval) {
		start := end.Add(-ts.opts.Interval)
		var events, dead int64
		for _, jr := range runs {
			for _, r := range jr.runs {
				if !hasEvents(r) || !r.End.After(start) || r.End.After(end) {
					continue
				}
				events += r.Counts["events"]
				dead += r.Counts["dead_letters"]
			}
		}
		ts.events.add(Point{At: end, Value: float64(events) / ts.opts.Interval.Seconds()})
		ts.deadLetters.add(Point{At: end, Value: float64(dead) / ts.opts.Interval.Minutes()})
		ts.charted = end
	}
}

// hasEvents: the run is an ingest run (its counts have events).
func hasEvents(r scheduler.Run) bool {
	_, ok := r.Counts["events"]
	return ok
}

// addDurations charts each new run's duration at its end; skipped runs
// did no work and are left out.
func (ts *TimeSeries) addDurations(runs []jobRuns, now time.Time) {
	since := now.Add(-ts.Window())
	for _, jr := range runs {
		seen := ts.seenEnd[jr.job]
		for _, r := range jr.runs {
			if r.Status == scheduler.StatusSkipped || !r.End.After(seen) || !r.End.After(since) {
				continue
			}
			ts.series(ts.durations, jr.job).add(Point{At: r.End, Value: r.Duration().Seconds()})
			if r.End.After(ts.seenEnd[jr.job]) {
				ts.seenEnd[jr.job] = r.End
			}
		}
	}
}

// Chart is one chart's model: what the SVG draws.
type Chart struct {
	ID, Title, Unit string
	Series          []ChartSeries
}

// ChartSeries is one line of a chart, oldest point first.
type ChartSeries struct {
	Name   string
	Points []Point
}

// Charts are the series as they are now, in the page's order.
func (ts *TimeSeries) Charts() []Chart {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	named := func(m map[string]*ring) []ChartSeries {
		out := make([]ChartSeries, 0, len(m))
		for name, r := range m {
			out = append(out, ChartSeries{Name: name, Points: r.points()})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return []Chart{
		{ID: "events", Title: "Events ingested", Unit: "events/s", Series: []ChartSeries{{Name: "all topics", Points: ts.events.points()}}},
		{ID: "lag", Title: "Consumer lag per topic", Unit: "records", Series: named(ts.lag)},
		{ID: "freshness", Title: "Freshness per table (age of newest committed event)", Unit: "s", Series: named(ts.freshness)},
		{ID: "deadletters", Title: "Dead letters", Unit: "/min", Series: []ChartSeries{{Name: "all topics", Points: ts.deadLetters.points()}}},
		{ID: "durations", Title: "Job run durations", Unit: "s", Series: named(ts.durations)},
	}
}
