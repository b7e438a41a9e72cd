package report_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// sinkRig is where a report job with a table and a topic runs: the lake
// holding the ticks, the catalog over it, and a Kafka to publish to.
type sinkRig struct {
	store lake.Store
	cat   *catalog.Catalog
	kafka []kgo.Opt
	topic string
	table string
}

var tickSchema = lake.TableSchema{Table: "tick", Columns: []lake.Column{{Name: "symbol", Type: lake.TypeVarchar}, {Name: "price", Type: lake.TypeDouble}}}

// sinkTicks are 120 ticks of three symbols a second apart from t0, every
// seventh 4 s behind its place (out of order, within the lateness).
func sinkTicks() []catalogtest.Event {
	syms := []string{"AAA", "BBB", "CCC"}
	var out []catalogtest.Event
	for i := range 120 {
		at := t0.Add(time.Duration(i) * time.Second)
		if i%7 == 6 {
			at = at.Add(-4 * time.Second)
		}
		price := 10 + float64((i*37)%23)/4
		out = append(out, catalogtest.Event{Table: "tick", Time: at, Fields: map[string]any{"symbol": syms[i%3], "price": price}})
	}
	return out
}

func samples(events []catalogtest.Event) []catalogtest.Sample {
	out := make([]catalogtest.Sample, len(events))
	for i, e := range events {
		out[i] = catalogtest.Sample{Key: e.Fields["symbol"].(string), Value: e.Fields["price"].(float64), Time: e.Time}
	}
	return out
}

// checkReportSinks runs a window_average job with a 30 s watermark, a
// lake table and a topic three times for one slot: twice on the same
// ticks, then after a tick arrived later than the lateness. Every time,
// the table holds each closed window's rows exactly once and the topic's
// latest record per key equals them; the second run publishes nothing,
// the third only the rows the late tick changed.
func checkReportSinks(t *testing.T, rig sinkRig) {
	t.Helper()
	ctx := t.Context()
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	out := t.TempDir()
	job, err := report.NewJob("tick_avg", report.JobOptions{
		Report: reports["window_average"], Engine: rig.cat, OutDir: out,
		Params:    map[string]string{"table": "tick", "key": "symbol", "value": "price", "window": "10s", "previous_windows": "2"},
		Watermark: &report.WatermarkOptions{AllowedLateness: 30 * time.Second},
		Table:     &report.TableOptions{Name: rig.table, Store: rig.store, Registrar: rig.cat, Unit: lake.Millis, SpoolDir: t.TempDir()},
		Publish:   &report.PublishOptions{Topic: rig.topic, Client: rig.kafka, CreateTopic: true, Partitions: 2, Store: rig.store},
	})
	require.NoError(t, err)
	at := t0.Add(20 * time.Minute) // start: now-1h, so from 09:00 (the table covers whole hours)

	// Before any tick: nothing closed, nothing published or stored, and
	// no column typed from the empty result.
	stats, err := job.Run(ctx, at)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"rows": 0, "alert_rows": 0, "published": 0, "table_rows": 0}, stats)
	_, typed, err := lake.LoadSchema(ctx, rig.store, rig.table)
	require.NoError(t, err)
	require.False(t, typed, "an empty run commits no schema")

	events := sinkTicks()
	changes, err := catalogtest.Write(ctx, rig.store, []lake.TableSchema{tickSchema}, events, 0)
	require.NoError(t, err)
	require.NoError(t, rig.cat.Register(ctx, changes))

	// The newest tick is at t0+119s: the watermark is t0+89s, so the
	// windows closed are those ending by t0+80s.
	end := t0.Add(80 * time.Second)
	want := catalogtest.WindowAverages(samples(events), "symbol", "price", 10*time.Second, 2, t0.Add(-time.Hour), end)
	require.Len(t, want, 1+8*3)

	for run := 1; run <= 2; run++ {
		stats, err := job.Run(ctx, at)
		require.NoError(t, err, "run %d", run)
		require.Equal(t, int64(len(want)-1), stats["rows"], "run %d", run)
		require.Equal(t, int64(len(want)-1), stats["table_rows"], "run %d", run)
		if run == 1 {
			require.Equal(t, int64(len(want)-1), stats["published"], "run 1 publishes every row")
		} else {
			require.Zero(t, stats["published"], "run 2: nothing changed, nothing published")
		}
		requireCSV(t, want, filepath.Join(out, "tick_avg", "latest.csv"))
		requireTable(t, rig, want)
		recs := requireTopic(t, rig, want)
		require.Len(t, recs, len(want)-1, "run %d: records in the topic", run)
	}

	// The stored table is the job's output, not an event type, on this
	// engine too: {{events}} (and so the watermark of every event table)
	// does not read it.
	reportTables, err := rig.cat.ReportTables(ctx, []string{rig.table, "tick"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{rig.table: true}, reportTables)
	types, err := report.Execute(ctx, rig.cat, mustParseReport(t, `-- name: event_types
SELECT DISTINCT event_type FROM {{events "event_time"}} e`), nil)
	require.NoError(t, err)
	require.NotContains(t, types.Rows, []any{rig.table}, "the report's table among the event types")
	require.Contains(t, types.Rows, []any{"tick"})

	// A tick 95 s behind the newest: its window (t0+10s) was emitted.
	late := []catalogtest.Event{{Table: "tick", Time: t0.Add(15 * time.Second), Fields: map[string]any{"symbol": "AAA", "price": 1000.0}}}
	changes, err = catalogtest.Write(ctx, rig.store, []lake.TableSchema{tickSchema}, late, 1000)
	require.NoError(t, err)
	require.NoError(t, rig.cat.Register(ctx, changes))
	want2 := catalogtest.WindowAverages(samples(append(events, late...)), "symbol", "price", 10*time.Second, 2, t0.Add(-time.Hour), end)
	changed := 0
	for i := range want2 {
		if strings.Join(want2[i], ",") != strings.Join(want[i], ",") {
			changed++
		}
	}
	require.Equal(t, 3, changed, "the late tick's window and the two whose moving average spans it")

	stats, err = job.Run(ctx, at)
	require.NoError(t, err)
	require.Equal(t, int64(changed), stats["published"], "only the changed rows are published again")
	requireCSV(t, want2, filepath.Join(out, "tick_avg", "latest.csv"))
	requireTable(t, rig, want2)
	recs := requireTopic(t, rig, want2)
	require.Len(t, recs, len(want)-1+changed)
}

func mustParseReport(t *testing.T, text string) *reportsql.Report {
	t.Helper()
	r, err := reportsql.Parse("test", text)
	require.NoError(t, err)
	return r
}

func requireCSV(t *testing.T, want [][]string, path string) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Empty(t, catalogtest.DiffWindowAverages(want, string(got)))
}

// requireTable reads the report's table back through the catalog: each
// window's rows exactly once, equal to want.
func requireTable(t *testing.T, rig sinkRig, want [][]string) {
	t.Helper()
	q := fmt.Sprintf(`SELECT window_start, symbol, "count", avg_price, min_price, max_price, moving_avg_price FROM %s ORDER BY window_start, symbol`, rig.cat.Qualified(rig.table))
	res, err := report.Query(t.Context(), rig.cat.DB(), q)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, res.WriteCSV(&b))
	require.Empty(t, catalogtest.DiffWindowAverages(want, b.String()), "table %s on %s", rig.table, rig.cat.Dialect())
	n, err := report.Query(t.Context(), rig.cat.DB(), fmt.Sprintf(`SELECT count(*) FROM %s WHERE event_time = window_start AND event_time_source = 'report'`, rig.cat.Qualified(rig.table)))
	require.NoError(t, err)
	require.Equal(t, int64(len(want)-1), n.Rows[0][0], "every row's event_time is its window")
}

// requireTopic reads the whole topic and checks that the latest record
// per key is want's row (keyed by window_start and symbol, with the
// window in the silt-window header); it returns every record.
func requireTopic(t *testing.T, rig sinkRig, want [][]string) []*kgo.Record {
	t.Helper()
	recs := stacktest.ReadTopic(t, rig.kafka, rig.topic)
	latest := map[string]*kgo.Record{}
	for _, r := range recs {
		latest[string(r.Key)] = r
	}
	require.Len(t, latest, len(want)-1, "one key per row")
	for _, row := range want[1:] {
		key, err := json.Marshal([]string{row[0], row[1]})
		require.NoError(t, err)
		r, ok := latest[string(key)]
		require.True(t, ok, "no record keyed %s", key)
		headers := map[string]string{}
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
		require.Equal(t, map[string]string{report.HeaderReport: "tick_avg", report.HeaderWindow: row[0]}, headers)
		var got map[string]any
		require.NoError(t, json.Unmarshal(r.Value, &got))
		require.Equal(t, row[0], got["window_start"])
		require.Equal(t, row[1], got["symbol"])
		n, err := strconv.Atoi(row[2])
		require.NoError(t, err)
		require.Equal(t, float64(n), got["count"])
		for c := 3; c < len(row); c++ {
			w, err := strconv.ParseFloat(row[c], 64)
			require.NoError(t, err)
			g, ok := got[want[0][c]].(float64)
			require.True(t, ok, "%s: %v", want[0][c], got[want[0][c]])
			require.LessOrEqual(t, math.Abs(w-g), 1e-6, "%s %s: %v, want %v", key, want[0][c], g, w)
		}
	}
	return recs
}

// On DuckDB and an in-process Kafka (kfake); the integration tests run
// the same on Trino over MinIO and on the stack's Kafka.
func TestReportSinksTableAndTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	store, cat := newDuckCatalog(t)
	checkReportSinks(t, sinkRig{store: store, cat: cat, kafka: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, topic: "tick_averages", table: "tick_averages"})
}

// failingStateStore is a lake whose first write of the job's publish
// record fails, as when a run dies between Kafka's acknowledgement and
// recording what it published.
type failingStateStore struct {
	lake.Store
	failed bool
}

func (s *failingStateStore) Create(ctx context.Context, key string, data []byte) (lake.Version, error) {
	if strings.HasSuffix(key, "/published.json") && !s.failed {
		s.failed = true
		return "", errors.New("the lake went away")
	}
	return s.Store.Create(ctx, key, data)
}

// A run that published but could not record it fails; the next run
// publishes the same rows again under the same keys, so the topic's
// latest record per key is still each row once, and then records them.
func TestReportPublishRecordLostRepublishesSameKeys(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	local, cat := newDuckCatalog(t)
	store := &failingStateStore{Store: local}
	ctx := t.Context()
	events := sinkTicks()
	changes, err := catalogtest.Write(ctx, store, []lake.TableSchema{tickSchema}, events, 0)
	require.NoError(t, err)
	require.NoError(t, cat.Register(ctx, changes))
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	kafka := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	job, err := report.NewJob("tick_avg", report.JobOptions{
		Report: reports["window_average"], Engine: cat, OutDir: t.TempDir(),
		Params:    map[string]string{"table": "tick", "key": "symbol", "value": "price", "window": "10s", "previous_windows": "2"},
		Watermark: &report.WatermarkOptions{AllowedLateness: 30 * time.Second},
		Publish:   &report.PublishOptions{Topic: "tick_averages", Client: kafka, CreateTopic: true, Partitions: 2, Store: store},
	})
	require.NoError(t, err)
	at := t0.Add(20 * time.Minute)
	want := catalogtest.WindowAverages(samples(events), "symbol", "price", 10*time.Second, 2, t0.Add(-time.Hour), t0.Add(80*time.Second))

	_, err = job.Run(ctx, at)
	require.ErrorContains(t, err, "the next run publishes these rows again")
	require.ErrorContains(t, err, "the lake went away")
	stats, err := job.Run(ctx, at)
	require.NoError(t, err)
	require.Equal(t, int64(len(want)-1), stats["published"], "nothing was recorded: every row again")
	stats, err = job.Run(ctx, at)
	require.NoError(t, err)
	require.Zero(t, stats["published"], "recorded now")

	recs := requireTopic(t, sinkRig{store: store, cat: cat, kafka: kafka, topic: "tick_averages"}, want)
	require.Len(t, recs, 2*(len(want)-1))
}
