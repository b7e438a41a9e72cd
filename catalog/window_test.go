package catalog_test

import (
	"encoding/csv"
	"fmt"
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
