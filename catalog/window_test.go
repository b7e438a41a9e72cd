package catalog_test

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

// windowSizes are the event_counts_by_window sizes checked on each engine:
// sub-minute, a minute, one not dividing a minute, an hour, and the older
// window_minutes form.
var windowSizes = []map[string]string{
	{"window": "10s"}, {"window": "1m"}, {"window": "90s"}, {"window": "1h"}, {"window_minutes": "7"},
}

// expectedWindowCounts is event_counts_by_window's CSV computed in Go from
// the events themselves: windows aligned to the Unix epoch, start
// inclusive, end exclusive, sorted by window then type.
func expectedWindowCounts(events []catalogtest.Event, size time.Duration, start, end time.Time) string {
	type key struct {
		window time.Time
		typ    string
	}
	counts := map[key]int{}
	for _, e := range events {
		if e.Time.Before(start) || !e.Time.Before(end) {
			continue
		}
		secs := e.Time.Unix() / int64(size/time.Second) * int64(size/time.Second)
		counts[key{time.Unix(secs, 0).UTC(), e.Table}]++
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].window.Equal(keys[j].window) {
			return keys[i].window.Before(keys[j].window)
		}
		return keys[i].typ < keys[j].typ
	})
	var b strings.Builder
	b.WriteString("window_start,event_type,events\r\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s,%s,%d\r\n", k.window.Format("2006-01-02T15:04:05.000Z"), k.typ, counts[k])
	}
	return b.String()
}

// windowSize is the size a params set asks for.
func windowSize(t *testing.T, params map[string]string) time.Duration {
	t.Helper()
	if w, ok := params["window"]; ok {
		d, err := time.ParseDuration(w)
		require.NoError(t, err)
		return d
	}
	var m int
	_, err := fmt.Sscan(params["window_minutes"], &m)
	require.NoError(t, err)
	return time.Duration(m) * time.Minute
}

// windowCSV runs event_counts_by_window on c with params over [start, end).
func windowCSV(t *testing.T, c *catalog.Catalog, params map[string]string, start, end time.Time) (string, int) {
	t.Helper()
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	all := map[string]string{"start": start.Format(time.RFC3339Nano), "end": end.Format(time.RFC3339Nano)}
	for k, v := range params {
		all[k] = v
	}
	r := reports["event_counts_by_window"]
	values, err := r.Values(all, end)
	require.NoError(t, err)
	res, err := report.Execute(t.Context(), c, r, values)
	require.NoError(t, err, "event_counts_by_window %v on %s", params, c.Dialect())
	var b strings.Builder
	require.NoError(t, res.WriteCSV(&b))
	return b.String(), len(res.Rows)
}

// Windows of 10s, 1m, 90s and 1h on DuckDB count exactly what the events
// say (the Trino side is TestWindowDurationsDifferentialIntegration).
func TestWindowDurationsOnDuckDB(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	events := catalogtest.Generate(3, 600, t0, 20*time.Minute)
	_, err = catalogtest.Write(ctx, store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	c, err := catalog.Open(ctx, duckConfig(t, store.Root()), store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.RepairAll(ctx, store))

	start, end := t0.Add(95*time.Second), t0.Add(17*time.Minute)
	for _, params := range windowSizes {
		got, n := windowCSV(t, c, params, start, end)
		require.Greater(t, n, 2, "%v", params)
		require.Equal(t, expectedWindowCounts(events, windowSize(t, params), start, end), got, "%v", params)
	}
}

// movingAverageParams run the generic moving_average on another key than
// its default: the sword price per host.
var movingAverageParams = map[string]string{"table": "purchase_sword", "key": "host", "value": "price", "previous_rows": "2"}

// expectedMovingAverage is moving_average's rows computed in Go: per host,
// in event time then Kafka offset order, the average of each price and
// the two before it.
func expectedMovingAverage(events []catalogtest.Event, start, end time.Time) [][]string {
	var rows []catalogtest.Event
	for _, e := range events {
		if e.Table == "purchase_sword" && !e.Time.Before(start) && e.Time.Before(end) {
			rows = append(rows, e)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Fields["host"] != b.Fields["host"] {
			return a.Fields["host"].(string) < b.Fields["host"].(string)
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return a.Offset < b.Offset
	})
	out := [][]string{{"host", "event_time", "price", "moving_avg"}}
	for i, e := range rows {
		sum, n := 0.0, 0
		for j := i; j >= 0 && j >= i-2 && rows[j].Fields["host"] == e.Fields["host"]; j-- {
			sum += rows[j].Fields["price"].(float64)
			n++
		}
		out = append(out, []string{e.Fields["host"].(string), e.Time.Format("2006-01-02T15:04:05.000Z"),
			fmt.Sprint(e.Fields["price"].(float64)), fmt.Sprintf("%.6f", sum/float64(n))})
	}
	return out
}

// reportCSV runs a shipped report on c with params over [start, end).
func reportCSV(t *testing.T, c *catalog.Catalog, name string, params map[string]string, start, end time.Time) string {
	t.Helper()
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	all := map[string]string{"start": start.Format(time.RFC3339Nano), "end": end.Format(time.RFC3339Nano)}
	for k, v := range params {
		all[k] = v
	}
	values, err := reports[name].Values(all, end)
	require.NoError(t, err)
	res, err := report.Execute(t.Context(), c, reports[name], values)
	require.NoError(t, err, "%s %v on %s", name, params, c.Dialect())
	var b strings.Builder
	require.NoError(t, res.WriteCSV(&b))
	return b.String()
}

// requireMovingAverage compares moving_average's CSV with the Go
// computation, the averages to 1e-6.
func requireMovingAverage(t *testing.T, want [][]string, got string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, len(want))
	require.Greater(t, len(recs), 10)
	for i := range want {
		if i == 0 {
			require.Equal(t, want[0], recs[0])
			continue
		}
		require.Equal(t, want[i][:2], recs[i][:2], "row %d", i)
		for _, col := range []int{2, 3} {
			w, err := strconv.ParseFloat(want[i][col], 64)
			require.NoError(t, err)
			g, err := strconv.ParseFloat(recs[i][col], 64)
			require.NoError(t, err, "row %d: %q", i, recs[i][col])
			require.InDelta(t, w, g, 1e-6, "row %d column %s", i, want[0][col])
		}
	}
}

func TestGenericMovingAverageOnDuckDB(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	events := catalogtest.Generate(4, 300, t0, 20*time.Minute)
	_, err = catalogtest.Write(ctx, store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	c, err := catalog.Open(ctx, duckConfig(t, store.Root()), store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.RepairAll(ctx, store))
	start, end := t0, t0.Add(15*time.Minute)
	requireMovingAverage(t, expectedMovingAverage(events, start, end), reportCSV(t, c, "moving_average", movingAverageParams, start, end))
}

// swordSamples are the sword purchases among events as window_average
// reads them with key host and value price.
func swordSamples(events []catalogtest.Event) []catalogtest.Sample {
	var out []catalogtest.Sample
	for _, e := range events {
		if e.Table == "purchase_sword" {
			out = append(out, catalogtest.Sample{Key: e.Fields["host"].(string), Value: e.Fields["price"].(float64), Time: e.Time})
		}
	}
	return out
}

// watermarkParams run window_average on the sword prices per host in
// one-minute windows, with a moving average over three windows before.
var watermarkParams = map[string]string{"table": "purchase_sword", "key": "host", "value": "price", "window": "1m", "previous_windows": "3", "start": "now-30m"}

const watermarkLateness = 90 * time.Second

// watermarkCSV runs window_average as a job with a 90 s watermark on c,
// scheduled at `at`, and returns its CSV.
func watermarkCSV(t *testing.T, c *catalog.Catalog, at time.Time) string {
	t.Helper()
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	out := t.TempDir()
	job, err := report.NewJob("swords", report.JobOptions{Report: reports["window_average"], Params: watermarkParams, Engine: c, OutDir: out,
		Watermark: &report.WatermarkOptions{AllowedLateness: watermarkLateness}})
	require.NoError(t, err)
	_, err = job.Run(t.Context(), at)
	require.NoError(t, err, "window_average with a watermark on %s", c.Dialect())
	raw, err := os.ReadFile(filepath.Join(out, "swords", "latest.csv"))
	require.NoError(t, err)
	return string(raw)
}

// watermarkEvents are 20 minutes of events from t0, then the late
// ones: sword purchases in windows the watermark closed long before
// (t0+3m and t0+7m30s, the newest being near t0+20m), and one in the
// window still open.
func watermarkEvents() (onTime, late []catalogtest.Event) {
	onTime = catalogtest.Generate(5, 900, t0, 20*time.Minute)
	sword := func(at time.Duration, host string, price float64) catalogtest.Event {
		return catalogtest.Event{Table: "purchase_sword", Time: t0.Add(at), Fields: map[string]any{"host": host, "sword": "katana", "price": price}}
	}
	late = []catalogtest.Event{sword(3*time.Minute+10*time.Second, "game-1.example.com", 999.5), sword(7*time.Minute+30*time.Second, "game-2.example.com", 0.25), sword(19*time.Minute+50*time.Second, "game-3.example.com", 42)}
	return onTime, late
}

// expectedWatermarkCSV is what the job must emit over events, scheduled
// at `at`: the windows from start (aligned) that end by the watermark.
func expectedWatermarkRows(events []catalogtest.Event, at time.Time) [][]string {
	var newest time.Time
	for _, e := range events {
		if e.Table == "purchase_sword" && e.Time.After(newest) {
			newest = e.Time
		}
	}
	end := newest.Add(-watermarkLateness).Truncate(time.Minute)
	return catalogtest.WindowAverages(swordSamples(events), "host", "price", time.Minute, 3, at.Add(-30*time.Minute).Truncate(time.Minute), end)
}

// With a watermark, window_average emits only the windows closed by the
// newest purchase minus the lateness; a purchase later than that is in
// its window's row on the next run (the window is emitted again,
// changed). The Trino side is TestWindowAverageWatermarkDifferentialIntegration.
func TestWindowAverageWatermarkOnDuckDB(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	onTime, late := watermarkEvents()
	_, err = catalogtest.Write(ctx, store, catalogtest.Schemas(), onTime, 0)
	require.NoError(t, err)
	c, err := catalog.Open(ctx, duckConfig(t, store.Root()), store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.RepairAll(ctx, store))
	at := t0.Add(25 * time.Minute)

	want := expectedWatermarkRows(onTime, at)
	require.Greater(t, len(want), 30)
	require.Empty(t, catalogtest.DiffWindowAverages(want, watermarkCSV(t, c, at)))

	changes, err := catalogtest.Write(ctx, store, catalogtest.Schemas(), late, 10_000)
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, changes))
	want2 := expectedWatermarkRows(append(onTime, late...), at)
	require.Len(t, want2, len(want), "the late purchases move no watermark")
	require.NotEqual(t, want, want2, "the late purchases change their windows")
	require.Empty(t, catalogtest.DiffWindowAverages(want2, watermarkCSV(t, c, at)))
}

// A watermark on a report over every event table: event_counts_by_window
// emits the windows closed by the newest event of any table minus the
// lateness, as counted from the events themselves.
func TestEventCountsWatermarkOverEveryTableOnDuckDB(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	events := catalogtest.Generate(9, 600, t0, 20*time.Minute)
	_, err = catalogtest.Write(ctx, store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	c, err := catalog.Open(ctx, duckConfig(t, store.Root()), store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.RepairAll(ctx, store))

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	out := t.TempDir()
	job, err := report.NewJob("counts", report.JobOptions{Report: reports["event_counts_by_window"], Engine: c, OutDir: out,
		Params: map[string]string{"window": "1m", "start": "now-1h"}, Watermark: &report.WatermarkOptions{AllowedLateness: 2 * time.Minute}})
	require.NoError(t, err)
	at := t0.Add(50 * time.Minute)
	stats, err := job.Run(ctx, at)
	require.NoError(t, err)

	var newest time.Time
	for _, e := range events {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	end := newest.Add(-2 * time.Minute).Truncate(time.Minute)
	want := expectedWindowCounts(events, time.Minute, at.Add(-time.Hour), end)
	got, err := os.ReadFile(filepath.Join(out, "counts", "latest.csv"))
	require.NoError(t, err)
	require.Equal(t, want, string(got))
	require.Greater(t, stats["rows"], int64(40))
}
