package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
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

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	cat     *catalog.Catalog
	events  []catalogtest.Event
	reports map[string]*reportsql.Report
}

// newFixture writes 3 hours of events in two batches (the second one with
// a grown purchase_sword schema) and registers them in DuckDB.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	store, cat := newDuckCatalog(t)

	events := catalogtest.Generate(7, n, t0, 3*time.Hour)
	half := len(events) / 2
	a, b := events[:half], events[half:]
	changes, err := catalogtest.Write(ctx, store, catalogtest.Schemas(), a, 0)
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))
	grown := catalogtest.Schemas()
	grown[2].Columns = append(grown[2].Columns, lake.Column{Name: "rarity", Type: lake.TypeVarchar})
	for i := range b {
		if b[i].Table == "purchase_sword" {
			b[i].Fields["rarity"] = "common"
		}
	}
	changes, err = catalogtest.Write(ctx, store, grown, b, int64(half))
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	return &fixture{cat: cat, events: append(append([]catalogtest.Event{}, a...), b...), reports: reports}
}

func (f *fixture) run(t *testing.T, name string, params map[string]string) [][]string {
	t.Helper()
	r := f.reports[name]
	require.NotNil(t, r, name)
	values, err := r.Values(params, t0.Add(3*time.Hour))
	require.NoError(t, err)
	res, err := report.Execute(context.Background(), f.cat, r, values)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, res.WriteCSV(&buf))
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	return recs
}

func inRange(e catalogtest.Event, from, to time.Time) bool {
	return !e.Time.Before(from) && e.Time.Before(to)
}

func TestHostBreakdown(t *testing.T) {
	f := newFixture(t, 600)
	from, to := t0.Add(20*time.Minute), t0.Add(150*time.Minute)
	recs := f.run(t, "host_breakdown", map[string]string{"start": from.Format(time.RFC3339), "end": to.Format(time.RFC3339)})
	require.Equal(t, []string{"host", "event_type", "events"}, recs[0])

	want := map[string]int{}
	for _, e := range f.events {
		if inRange(e, from, to) {
			want[e.Fields["host"].(string)+"|"+e.Table]++
		}
	}
	got := map[string]int{}
	total := 0
	for _, r := range recs[1:] {
		n, err := strconv.Atoi(r[2])
		require.NoError(t, err)
		got[r[0]+"|"+r[1]] = n
		total += n
	}
	require.Equal(t, want, got)
	require.Greater(t, total, 300, "the range holds most events")
	require.True(t, sort.SliceIsSorted(recs[1:], func(i, j int) bool {
		return recs[1+i][0]+"|"+recs[1+i][1] < recs[1+j][0]+"|"+recs[1+j][1]
	}))
}

func TestEventCountsByWindow(t *testing.T) {
	f := newFixture(t, 600)
	recs := f.run(t, "event_counts_by_window", map[string]string{"window_minutes": "7", "start": "2024-05-01 10:00", "end": "2024-05-01 13:00"})
	require.Equal(t, []string{"window_start", "event_type", "events"}, recs[0])
	want := map[string]int{}
	for _, e := range f.events {
		ms := e.Time.UnixMilli()
		w := time.UnixMilli(ms - ms%(7*60_000)).UTC().Format(report.TimeFormat)
		want[w+"|"+e.Table]++
	}
	got := map[string]int{}
	for _, r := range recs[1:] {
		n, _ := strconv.Atoi(r[2])
		got[r[0]+"|"+r[1]] = n
	}
	require.Equal(t, want, got)
	// 7-minute windows align to the epoch: 10:00 is a boundary, 10:07 the next.
	require.Equal(t, "2024-05-01T10:07:00.000Z", recs[4][0])
}

func TestErrorAlert(t *testing.T) {
	f := newFixture(t, 900)
	r := f.reports["error_alert"]
	params := map[string]string{"window_minutes": "10", "threshold": "4", "start": "2024-05-01 10:00", "end": "2024-05-01 13:00"}
	recs := f.run(t, "error_alert", params)
	require.Equal(t, []string{"window_start", "lines", "errors", "warnings", "infos", "debugs", "others"}, recs[0])
	type counts struct{ lines, errors, warnings, infos, debugs, others int }
	want := map[string]*counts{}
	for _, e := range f.events {
		if e.Table != "log" {
			continue
		}
		ms := e.Time.UnixMilli()
		w := time.UnixMilli(ms - ms%600_000).UTC().Format(report.TimeFormat)
		if want[w] == nil {
			want[w] = &counts{}
		}
		c := want[w]
		c.lines++
		switch strings.ToUpper(e.Fields["level"].(string)) {
		case "ERROR":
			c.errors++
		case "WARN":
			c.warnings++
		case "INFO":
			c.infos++
		case "DEBUG":
			c.debugs++
		default:
			c.others++
		}
	}
	require.Len(t, recs, len(want)+1)
	wantFired := 0
	for _, r := range recs[1:] {
		c := want[r[0]]
		require.NotNil(t, c, r[0])
		require.Equal(t, []string{strconv.Itoa(c.lines), strconv.Itoa(c.errors), strconv.Itoa(c.warnings), strconv.Itoa(c.infos), strconv.Itoa(c.debugs), strconv.Itoa(c.others)}, r[1:], r[0])
		if c.errors > 4 {
			wantFired++
		}
	}
	require.Positive(t, wantFired, "the fixture has windows above the threshold")
	require.Less(t, wantFired, len(want), "and windows below it")

	values, err := r.Values(params, t0)
	require.NoError(t, err)
	res, err := report.Execute(context.Background(), f.cat, r, values)
	require.NoError(t, err)
	fired, err := report.Fired(r, res, values)
	require.NoError(t, err)
	require.Len(t, fired, wantFired)
}

func TestMovingAverage(t *testing.T) {
	f := newFixture(t, 600)
	recs := f.run(t, "moving_average", map[string]string{"previous_rows": "2", "start": "2024-05-01 10:00", "end": "2024-05-01 13:00"})
	require.Equal(t, []string{"sword", "event_time", "price", "moving_avg"}, recs[0])
	bySword := map[string][]catalogtest.Event{}
	for _, e := range f.events {
		if e.Table == "purchase_sword" {
			s := e.Fields["sword"].(string)
			bySword[s] = append(bySword[s], e)
		}
	}
	var want [][]float64
	swords := []string{}
	for s := range bySword {
		swords = append(swords, s)
	}
	sort.Strings(swords)
	for _, s := range swords {
		es := bySword[s]
		sort.SliceStable(es, func(i, j int) bool {
			if !es[i].Time.Equal(es[j].Time) {
				return es[i].Time.Before(es[j].Time)
			}
			return es[i].Offset < es[j].Offset
		})
		for i, e := range es {
			sum, n := 0.0, 0
			for k := max(0, i-2); k <= i; k++ {
				sum += es[k].Fields["price"].(float64)
				n++
			}
			want = append(want, []float64{e.Fields["price"].(float64), sum / float64(n)})
		}
	}
	require.Len(t, recs, len(want)+1)
	for i, r := range recs[1:] {
		p, err1 := strconv.ParseFloat(r[2], 64)
		avg, err2 := strconv.ParseFloat(r[3], 64)
		require.NoError(t, err1)
		require.NoError(t, err2)
		require.Equal(t, want[i][0], p, "row %d", i)
		require.InDelta(t, want[i][1], avg, 1e-6, "row %d %v", i, r)
	}
}

// newDuckCatalog is an empty local lake with a DuckDB catalog on it,
// closed when the test ends.
func newDuckCatalog(t *testing.T) (*lake.Local, *catalog.Catalog) {
	t.Helper()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cat, err := catalog.Open(context.Background(), catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb")}, store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.Close()) })
	return store, cat
}

// Every shipped report renders and runs, also on a catalog with no tables.
func TestReportsOnEmptyCatalog(t *testing.T) {
	ctx := context.Background()
	_, cat := newDuckCatalog(t)
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	require.Subset(t, reportsql.Names(reports), []string{"host_breakdown", "event_counts_by_window", "error_alert", "moving_average"})
	for _, name := range reportsql.Names(reports) {
		r := reports[name]
		values, err := r.Values(nil, t0)
		require.NoError(t, err, name)
		res, err := report.Execute(ctx, cat, r, values)
		require.NoError(t, err, name)
		require.Empty(t, res.Rows, name)
		require.NotEmpty(t, res.Columns, name)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, ""},
		{"a,b", "a,b"},
		{int64(-3), "-3"},
		{1.5, "1.5"},
		{0.1 + 0.2, "0.3"},
		{1e21, "1000000000000000000000"},
		{math.Copysign(0, -1), "0"},
		{true, "true"},
		{time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.FixedZone("x", 2*3600)), "2024-05-01T10:00:00.123Z"},
	} {
		require.Equal(t, c.want, report.Format(report.Normalize(c.in)), fmt.Sprint(c.in))
	}
	res := &report.Result{Columns: []string{"a", "b"}, Rows: [][]any{{"x \"y\", z", nil}, {"line\nbreak", int64(2)}}}
	var buf bytes.Buffer
	require.NoError(t, res.WriteCSV(&buf))
	require.Equal(t, "a,b\r\n\"x \"\"y\"\", z\",\r\n\"line\r\nbreak\",2\r\n", buf.String())
}
