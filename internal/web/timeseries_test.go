package web

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/scheduler"
)

// fakeClock is the time series' injected clock, moved by the test.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// ingestRun is an ingest run of job that ended at end after d, with its
// counts as the ingest job records them.
func ingestRun(job string, end time.Time, d time.Duration, events, dead int64) scheduler.Run {
	return scheduler.Run{
		Job: job, Scheduled: end.Add(-d), Start: end.Add(-d), End: end, Status: scheduler.StatusOK,
		Counts: map[string]int64{"events": events, "dead_letters": dead, "rows.purchase": events - dead},
	}
}

func openHistory(t *testing.T, store lake.Store) *scheduler.History {
	t.Helper()
	h, err := scheduler.OpenHistory(context.Background(), store, 0)
	require.NoError(t, err)
	return h
}

func chartByID(t *testing.T, charts []Chart, id string) Chart {
	t.Helper()
	for _, c := range charts {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no chart %q", id)
	return Chart{}
}

// svgSeries parses the data points a rendered chart carries, per series
// (data-times in Unix milliseconds).
func svgSeries(t *testing.T, svg string) map[string][]Point {
	t.Helper()
	out := map[string][]Point{}
	re := regexp.MustCompile(`<polyline class="series" data-series="([^"]*)" data-times="([^"]*)" data-values="([^"]*)"`)
	for _, m := range re.FindAllStringSubmatch(svg, -1) {
		times, values := strings.Fields(m[2]), strings.Fields(m[3])
		require.Len(t, values, len(times))
		var pts []Point
		for i := range times {
			ms, err := strconv.ParseInt(times[i], 10, 64)
			require.NoError(t, err)
			v, err := strconv.ParseFloat(values[i], 64)
			require.NoError(t, err)
			pts = append(pts, Point{At: time.UnixMilli(ms).UTC(), Value: v})
		}
		out[m[1]] = pts
	}
	return out
}

// TestTimeSeriesEventsRateFromRunHistory: each events/s and dead
// letters/min point is the sum of the counts of the runs that ended in
// its 10 s bucket, as recorded in the run history, and the rendered SVG
// carries exactly those values.
func TestTimeSeriesEventsRateFromRunHistory(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	h := openHistory(t, store)
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	// Buckets (12:00:00, :10], (:10, :20], (:20, :30].
	for _, r := range []scheduler.Run{
		ingestRun("ingest", base.Add(3*time.Second), time.Second, 100, 2),
		ingestRun("ingest", base.Add(8*time.Second), time.Second, 50, 0),
		ingestRun("ingest", base.Add(10*time.Second), 2*time.Second, 30, 1), // on the boundary: first bucket
		ingestRun("ingest", base.Add(25*time.Second), 3*time.Second, 400, 6),
	} {
		require.NoError(t, h.Record(ctx, r))
	}
	clock := &fakeClock{t: base.Add(41 * time.Second)}
	ts := NewTimeSeries(TimeSeriesOptions{JobNames: []string{"ingest"}, History: h, Now: clock.now, Points: 6})
	ts.Sample(ctx)

	charts := ts.Charts()
	events := chartByID(t, charts, "events").Series[0].Points
	dead := chartByID(t, charts, "deadletters").Series[0].Points
	// Complete buckets at 12:00:41 end at :30 (one interval of grace
	// for runs still being recorded); 6 points back from there.
	wantEvents := []Point{
		{base.Add(-20 * time.Second), 0}, {base.Add(-10 * time.Second), 0}, {base, 0},
		{base.Add(10 * time.Second), 18}, {base.Add(20 * time.Second), 0}, {base.Add(30 * time.Second), 40},
	}
	require.Equal(t, wantEvents, events)
	require.Equal(t, []float64{0, 0, 0, 18, 0, 36}, values(dead)) // (2+0+1)/10s·60, 6/10s·60

	durations := chartByID(t, charts, "durations").Series
	require.Len(t, durations, 1)
	require.Equal(t, []float64{1, 1, 2, 3}, values(durations[0].Points))

	svg, err := renderChart(chartByID(t, charts, "events"), clock.t.Add(-ts.Window()), clock.t)
	require.NoError(t, err)
	require.Equal(t, wantEvents, svgSeries(t, string(svg))["all topics"])
	require.Contains(t, string(svg), ">40 events/s</tspan>", "the legend shows the current value with its unit")

	// The next sample adds only the bucket that became complete.
	clock.t = base.Add(50 * time.Second)
	ts.Sample(ctx)
	events = chartByID(t, ts.Charts(), "events").Series[0].Points
	require.Len(t, events, 6)
	require.Equal(t, Point{base.Add(40 * time.Second), 0}, events[5])
	require.Equal(t, Point{base.Add(30 * time.Second), 40}, events[4])
}

func values(pts []Point) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.Value
	}
	return out
}

// TestTimeSeriesRebuiltAfterRestartMatchesLive samples a history as runs
// arrive, then opens the history again from the lake as a restarted
// process would: its first sample yields the same events/s, dead
// letters/min and duration points.
func TestTimeSeriesRebuiltAfterRestartMatchesLive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := lake.NewLocal(dir)
	require.NoError(t, err)
	h := openHistory(t, store)
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	live := NewTimeSeries(TimeSeriesOptions{JobNames: []string{"ingest", "report"}, History: h, Now: clock.now})
	// An ingest run every 5 s ending 1.2 s after its slot, a report every
	// 30 s; the live series samples every 10 s, between runs.
	for i := 1; i <= 120; i++ {
		slot := start.Add(time.Duration(i) * 5 * time.Second)
		require.NoError(t, h.Record(ctx, ingestRun("ingest", slot.Add(1200*time.Millisecond), time.Duration(i%4+1)*100*time.Millisecond, int64(i*7%50), int64(i%3))))
		if i%6 == 0 {
			require.NoError(t, h.Record(ctx, scheduler.Run{Job: "report", Start: slot, End: slot.Add(time.Duration(i) * 10 * time.Millisecond), Status: scheduler.StatusOK}))
		}
		if i%2 == 0 {
			clock.t = slot.Add(3 * time.Second)
			live.Sample(ctx)
		}
	}

	restarted := NewTimeSeries(TimeSeriesOptions{JobNames: []string{"ingest", "report"}, History: openHistory(t, store), Now: clock.now})
	restarted.Sample(ctx)
	// The history keeps the last 100 runs per job (8 min of ingest here):
	// the restarted series start at the oldest kept run, and from there
	// on they are the live ones.
	for _, id := range []string{"events", "deadletters", "durations"} {
		want, got := chartByID(t, live.Charts(), id), chartByID(t, restarted.Charts(), id)
		require.Len(t, got.Series, len(want.Series), id)
		for i, g := range got.Series {
			w := want.Series[i]
			require.Equal(t, w.Name, g.Name, id)
			require.GreaterOrEqual(t, len(g.Points), min(40, len(w.Points)), "%s %s: rebuilt points", id, g.Name)
			require.LessOrEqual(t, len(g.Points), len(w.Points), "%s %s", id, g.Name)
			require.Equal(t, w.Points[len(w.Points)-len(g.Points):], g.Points, "%s %s", id, g.Name)
		}
	}
	events := chartByID(t, restarted.Charts(), "events").Series[0].Points
	var sum float64
	for _, p := range events {
		sum += p.Value * 10
	}
	var recorded int64
	from, to := events[0].At.Add(-10*time.Second), events[len(events)-1].At
	for _, r := range h.Last("ingest", 1000) {
		if r.End.After(from) && !r.End.After(to) {
			recorded += r.Counts["events"]
		}
	}
	require.Positive(t, recorded)
	require.InDelta(t, float64(recorded), sum, 1e-6, "every recorded event is in exactly one bucket")
}

// TestChartEscapesNames: topic and table names are text in the SVG, never
// markup.
func TestChartEscapesNames(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	c := Chart{ID: "lag", Title: "Consumer lag per topic", Unit: "records", Series: []ChartSeries{
		{Name: `<script>alert(1)</script>`, Points: []Point{{now.Add(-time.Minute), 5}, {now, 7}}},
		{Name: `a"b&c`, Points: []Point{{now, 1}}},
	}}
	svg, err := renderChart(c, now.Add(-time.Hour), now)
	require.NoError(t, err)
	s := string(svg)
	require.NotContains(t, s, "<script>")
	require.NotContains(t, s, `a"b`)
	require.Contains(t, s, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, s, "a&#34;b&amp;c")
	got := svgSeries(t, s)
	require.Equal(t, []float64{5, 7}, values(got["&lt;script&gt;alert(1)&lt;/script&gt;"]))
	require.Contains(t, s, ">7 records</tspan>")
}

// TestStatusPageDrawsCharts: the status page carries the five charts with
// lag per topic and freshness per table as sampled.
func TestStatusPageDrawsCharts(t *testing.T) {
	code, body := get(t, chartFixture(t), "/")
	require.Equal(t, 200, code)
	for _, id := range []string{"events", "lag", "freshness", "deadletters", "durations"} {
		require.Contains(t, body, `id="chart-`+id+`"`)
	}
	lag := regexp.MustCompile(`(?s)<svg class="timeseries" id="chart-lag".*?</svg>`).FindString(body)
	require.Equal(t, []float64{42}, values(svgSeries(t, lag)["events"]))
	fresh := regexp.MustCompile(`(?s)<svg class="timeseries" id="chart-freshness".*?</svg>`).FindString(body)
	require.Equal(t, []float64{90}, values(svgSeries(t, fresh)["purchase_sword"]))
}

// chartFixture is a status page whose charts were sampled from a run
// history of half an hour of ingest and report runs, lag and freshness.
func chartFixture(t *testing.T) *Server {
	t.Helper()
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	h := openHistory(t, store)
	start := pageTime.Add(-30 * time.Minute)
	for i := 1; i <= 360; i++ {
		slot := start.Add(time.Duration(i) * 5 * time.Second)
		require.NoError(t, h.Record(ctx, ingestRun("ingest", slot.Add(time.Second), time.Duration(500+i%7*100)*time.Millisecond, int64(2000+i*13%900), int64(i%11/9))))
		if i%6 == 0 {
			require.NoError(t, h.Record(ctx, scheduler.Run{Job: "host_breakdown", Start: slot, End: slot.Add(time.Duration(2000+i*3) * time.Millisecond), Status: scheduler.StatusOK}))
		}
	}
	ts := NewTimeSeries(TimeSeriesOptions{
		JobNames: []string{"ingest", "host_breakdown"}, History: h, Now: func() time.Time { return pageTime },
		Lag:       staticLag{{Topic: "events", Partition: 0, Lag: 30}, {Topic: "events", Partition: 1, Lag: 12}},
		Freshness: staticFreshness{{Table: "purchase_sword", Age: 90 * time.Second}},
	})
	ts.Sample(ctx)
	s := fixture(t)
	s.opts.Charts = ts
	return s
}

func TestFormatChartValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.375: "0.375", 1.875: "1.875", 37.5: "37.5", 7.123456: "7.123", 0.0012345: "0.001234",
		427: "427", 12345: "12.3k", 2_500_000: "2.5M",
	} {
		require.Equal(t, want, formatValue(v), "%v", v)
	}
}
