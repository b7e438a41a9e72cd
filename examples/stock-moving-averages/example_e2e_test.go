//go:build integration

// Package stockmovingaverages_test runs the stock moving averages example
// as its README says, on the embedded broker and on the stack's Kafka, and
// checks what it shows, publishes and stores.
package stockmovingaverages_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

type tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	TS     int64   `json:"ts"`
}

// expectedTicks makes the ticks `silt gen --template ticks.json --seed seed
// --start start --step step` sends, from the same template.
func expectedTicks(t *testing.T, seed uint64, n int, start time.Time, step time.Duration) []tick {
	t.Helper()
	raw, err := os.ReadFile("ticks.json")
	require.NoError(t, err)
	tpl, err := gen.ParseTemplate("ticks.json", string(raw))
	require.NoError(t, err)
	src := tpl.Source(seed)
	out := make([]tick, n)
	for i := range out {
		require.NoError(t, json.Unmarshal(src.Next(nil, start.Add(time.Duration(i)*step)).JSON, &out[i]))
	}
	return out
}

// The job's settings, as silt.yaml has them.
const (
	window          = 10 * time.Second
	previousWindows = 5
	allowedLateness = 30 * time.Second
)

// expectedRows are the rows the moving_averages job emits from ticks:
// the windows the watermark (newest tick - 30 s) closed.
func expectedRows(ticks []tick) [][]string {
	var samples []catalogtest.Sample
	var newest time.Time
	for _, tk := range ticks {
		at := time.UnixMilli(tk.TS).UTC()
		samples = append(samples, catalogtest.Sample{Key: tk.Symbol, Value: tk.Price, Time: at})
		if at.After(newest) {
			newest = at
		}
	}
	end := time.Unix(newest.Add(-allowedLateness).Unix()/10*10, 0).UTC()
	return catalogtest.WindowAverages(samples, "symbol", "price", window, previousWindows, time.Time{}, end)
}

// publishedState is the job's record of what it published (its keys and
// a hash of each value), written after Kafka acknowledged them.
func publishedState(dir string) []byte {
	raw, _ := os.ReadFile(filepath.Join(dir, "silt-data", "_silt", "reports", "moving_averages", "published.json"))
	return raw
}

// stockRun is one way of running the example: its environment, edits to
// its silt.yaml, and how to reach the Kafka it publishes to.
type stockRun struct {
	env      []string
	edit     func(yaml string) string
	kafka    func(d *siltrun.Daemon) []kgo.Opt
	outTopic string
}

// runStockExample: 150 seeded ticks of three symbols, half a second
// apart, through the collector onto page_views (4 partitions). The job
// emits the 10 s windows the watermark closed (the newest tick minus
// 30 s): in latest.csv, in aggregate_page_views (one record per window
// and symbol) and in the lake table moving_averages, each equal to the
// rows computed here from the ticks. Then a tick 62 s late arrives, in a
// window already published: the next run emits that window again, and
// the windows whose moving average spans it, and nothing else, so the
// topic's latest record per key and the table equal the rows computed
// with the late tick.
func runStockExample(t *testing.T, run stockRun) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"silt.yaml", "ticks.json"} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		if f == "silt.yaml" && run.edit != nil {
			raw = []byte(run.edit(string(raw)))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	env := siltrun.Env(append([]string{"SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0"}, run.env...)...)
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	base := d.CollectorURL(t)

	start := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	const n, seed, step = 150, 11, 500 * time.Millisecond
	cmd := exec.Command(stacktest.SiltBin(t), "gen", "--config", "silt.yaml", "--template", "ticks.json", "--http", base,
		"--seed", strconv.Itoa(seed), "--count", strconv.Itoa(n), "--start", start.Format(time.RFC3339), "--step", step.String(), "--rate", "0")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	ticks := expectedTicks(t, seed, n, start, step)
	want := expectedRows(ticks)
	// The newest tick is at start+74.5s: the windows from start to start+40s.
	require.Len(t, want, 1+4*3)
	latest := filepath.Join(dir, "silt-data", "reports", "moving_averages", "latest.csv")
	waitForRows(t, d, latest, want, func() bool { return len(publishedState(dir)) > 0 })
	state := publishedState(dir)
	recs := stacktest.ReadTopic(t, run.kafka(d), run.outTopic)
	requireLatest(t, recs, want)
	published := len(recs) // counted, not listed: a failure names the numbers
	require.Equal(t, len(want)-1, published, "records in %s: each closed window published once", run.outTopic)

	late := tick{Symbol: "ACME", Price: 1000, TS: start.Add(12500 * time.Millisecond).UnixMilli()}
	body, err := json.Marshal(late)
	require.NoError(t, err)
	status, resp := siltrun.Do(t, "POST", base+"/events", "application/json", string(body))
	require.Equal(t, 202, status, resp)
	want2 := expectedRows(append(ticks, late))
	again := 0
	for i := 1; i < len(want2); i++ {
		if i >= len(want) || strings.Join(want2[i], ",") != strings.Join(want[i], ",") {
			again++
		}
	}
	require.Positive(t, again, "the late tick changes rows")
	waitForRows(t, d, latest, want2, func() bool { return string(publishedState(dir)) != string(state) })
	recs = stacktest.ReadTopic(t, run.kafka(d), run.outTopic)
	d.Stop(t)
	requireLatest(t, recs, want2)
	published = len(recs)
	require.Equal(t, len(want)-1+again, published, "records in %s: only the %d rows the late tick changed are published again", run.outTopic, again)

	// The lake table, through the catalog, as a user queries it.
	q := exec.Command(stacktest.SiltBin(t), "query", "--config", "silt.yaml", "--format", "csv",
		`SELECT window_start, symbol, "count", avg_price, min_price, max_price, moving_avg_price FROM moving_averages ORDER BY window_start, symbol`)
	q.Dir, q.Env = dir, env
	table, err := q.Output()
	require.NoError(t, err)
	require.Empty(t, catalogtest.DiffWindowAverages(want2, string(table)), "the lake table moving_averages")
}

// waitForRows waits until the job's latest.csv holds want and published()
// says it was published.
func waitForRows(t *testing.T, d *siltrun.Daemon, latest string, want [][]string, published func() bool) {
	t.Helper()
	var diff string
	d.WaitFor(t, fmt.Sprintf("%d closed windows in latest.csv, published", len(want)-1), 3*time.Minute, func() bool {
		raw, err := os.ReadFile(latest)
		if err != nil {
			return false
		}
		diff = catalogtest.DiffWindowAverages(want, string(raw))
		return diff == "" && published()
	})
}

// requireLatest checks that the latest record per key of recs is want's
// row, keyed by [window_start, symbol], the window in its header.
func requireLatest(t *testing.T, recs []*kgo.Record, want [][]string) {
	t.Helper()
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
		var window string
		for _, h := range r.Headers {
			if h.Key == "silt-window" {
				window = string(h.Value)
			}
		}
		require.Equal(t, row[0], window, "%s: silt-window header", key)
		var got map[string]any
		require.NoError(t, json.Unmarshal(r.Value, &got))
		csvRow := []string{fmt.Sprint(got["window_start"]), fmt.Sprint(got["symbol"])}
		for _, c := range want[0][2:] {
			f, ok := got[c].(float64)
			require.True(t, ok, "%s: %s is %v", key, c, got[c])
			csvRow = append(csvRow, strconv.FormatFloat(f, 'f', -1, 64))
		}
		require.Empty(t, catalogtest.DiffWindowAverages([][]string{want[0], row}, strings.Join(want[0], ",")+"\n"+strings.Join(csvRow, ",")+"\n"), "record %s", key)
	}
}

var embeddedBroker = regexp.MustCompile(`EMBEDDED demo Kafka broker on (\S+) `)

// As the README runs it: the embedded broker.
func TestStockMovingAveragesExampleE2E(t *testing.T) {
	runStockExample(t, stockRun{
		outTopic: "aggregate_page_views",
		kafka: func(d *siltrun.Daemon) []kgo.Opt {
			m := embeddedBroker.FindStringSubmatch(d.Output())
			require.NotNil(t, m, "the embedded broker's address")
			return []kgo.Opt{kgo.SeedBrokers(strings.Split(m[1], ",")...)}
		},
	})
}

// The same example against the plain stack's Kafka, with topics of its own.
func TestStockMovingAveragesOnStackKafkaE2E(t *testing.T) {
	ep := stacktest.Get(t)
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	in, outTopic := "page_views_"+suffix, "aggregate_page_views_"+suffix
	runStockExample(t, stockRun{
		env: []string{"SILT_KAFKA_BROKERS=" + strings.Join(ep.KafkaBrokers, ","), "SILT_KAFKA_TOPICS=" + in,
			"SILT_COLLECT_TOPIC=" + in, "SILT_KAFKA_GROUP=silt_stock_" + suffix},
		edit:     func(y string) string { return strings.Replace(y, "topic: aggregate_page_views", "topic: "+outTopic, 1) },
		kafka:    func(*siltrun.Daemon) []kgo.Opt { return stacktest.KafkaOpts(t, ep) },
		outTopic: outTopic,
	})
}
