//go:build integration

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/scheduler"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
	return string(body)
}

// parseMetrics parses a /metrics page, failing t unless it is Prometheus text.
func parseMetrics(t *testing.T, page string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(page))
	require.NoError(t, err, "metrics are not Prometheus text")
	return fams
}

// metricSum adds up every series of a metric family on a /metrics page.
func metricSum(t *testing.T, page, name string) float64 {
	t.Helper()
	sum := 0.0
	if f := parseMetrics(t, page)[name]; f != nil {
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// apiGet calls the events API and returns its result.
func apiGet[T any](t *testing.T, url string) T {
	t.Helper()
	var resp struct {
		Status string `json:"status"`
		Result T      `json:"result"`
		Error  string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(httpGet(t, url)), &resp), url)
	require.Equal(t, "ok", resp.Status, "%s: %s", url, resp.Error)
	return resp.Result
}

func envWithout(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// TestRunE2EEmbeddedDefault is `make run` as a user runs it: silt run with
// no config in an empty directory, until the host_breakdown report is
// written; then the status page, metrics and a clean SIGTERM stop.
func TestRunE2EEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	env := append(envWithout("SILT_"), "SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, dir, env)
	url := d.StatusURL(t)
	latest := filepath.Join(dir, "silt-data", "reports", "host_breakdown", "latest.csv")
	start := time.Now()
	d.WaitFor(t, "host_breakdown report", 2*time.Minute, func() bool { _, err := os.Stat(latest); return err == nil })
	t.Logf("first report after %s", time.Since(start).Round(time.Second))
	// A status line per run.
	d.WaitForLine(t, regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d ingest +ok .*events=\d+`), time.Minute)
	d.WaitForLine(t, regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d host_breakdown +ok .*rows=\d+`), time.Minute)

	f, err := os.Open(latest)
	require.NoError(t, err)
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, f.Close())
	require.NoError(t, err)
	require.Equal(t, []string{"host", "event_type", "events"}, recs[0])
	defaults := config.Default()
	hosts := map[string]bool{}
	reported := int64(0)
	for _, r := range recs[1:] {
		n, err := strconv.ParseInt(r[2], 10, 64)
		require.NoError(t, err)
		require.Positive(t, n, "row %v", r)
		hosts[r[0]] = true
		reported += n
	}
	for _, h := range defaults.Gen.Hosts {
		require.True(t, hosts[h], "host %s missing from the report:\n%v", h, recs)
	}

	// The events API on the status port, asked about events stamped before
	// a cutoff. The generator stamps an event as it produces it, so every
	// event stamped before the cutoff is in Kafka before any ingest batch
	// that starts after tc; the third ingest run that ends after tc started
	// after tc, and a run registers its batch before it ends.
	tc := time.Now()
	cutoff := tc.Add(-2 * time.Second).Truncate(time.Second)
	d.WaitIngestRuns(t, 3)
	end := cutoff.UTC().Format(time.RFC3339)
	apiCounts := map[string]int64{}
	for _, typ := range defaults.Gen.EventTypes {
		apiCounts[typ] = apiGet[int64](t, url+"api/events/count?event_type="+typ+"&end_time="+end)
	}
	apiTotal := apiGet[int64](t, url+"api/events/count?end_time="+end)
	const pageSize = 5
	found := apiGet[eventsapi.SearchResult](t, url+"api/events/search?event_type=purchase_sword&end_time="+end+"&limit="+strconv.Itoa(pageSize))

	page := httpGet(t, url)
	for _, want := range []string{`data-job="ingest"`, `data-job="host_breakdown"`, `id="report-host_breakdown"`, `<rect class="bar"`, "purchase_sword", "Consumer lag", "<td>events</td>"} {
		require.Contains(t, page, want)
	}
	metrics := httpGet(t, url+"metrics")
	require.GreaterOrEqual(t, metricSum(t, metrics, "silt_job_runs_total"), 2.0)
	require.Positive(t, metricSum(t, metrics, "silt_ingest_rows_total"))
	require.Equal(t, "ready\n", httpGet(t, url+"readyz"))
	// A 10 s bucket is charted once complete, one interval after its end.
	eventsSeries := regexp.MustCompile(`(?s)id="chart-events".*?data-values="([^"]*)"`)
	d.WaitFor(t, "a charted events/s bucket with events", time.Minute, func() bool {
		m := eventsSeries.FindStringSubmatch(httpGet(t, url))
		return m != nil && strings.Trim(m[1], "0 ") != ""
	})
	dom := browse(t, url, "run-status-page.png", "ingest", "host_breakdown")
	for _, id := range []string{"events", "lag", "freshness", "deadletters", "durations"} {
		require.Contains(t, dom, `id="chart-`+id+`"`)
	}

	d.Stop(t)
	checkEventsChart(t, dom, filepath.Join(dir, "silt-data"))
	// The lake holds at least what the report counted, each event once.
	rep, err := lakecheck.Check(context.Background(), filepath.Join(dir, "silt-data"))
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	require.GreaterOrEqual(t, rep.Total, reported)
	t.Logf("lake: %d rows in %d files; report counted %d events", rep.Total, rep.Files, reported)

	// What the API answered, against the lake read directly: per event
	// type, the rows stamped before the cutoff, and the first of them in
	// the API's order (event time, then Kafka position).
	sum := int64(0)
	for _, typ := range defaults.Gen.EventTypes {
		glob := filepath.Join(dir, "silt-data", typ, "dt=*", "hour=*", "*.parquet")
		var n int64
		require.NoError(t, lakecheck.Query(context.Background(), fmt.Sprintf(
			`SELECT count(*) FROM read_parquet('%s', union_by_name=true) WHERE epoch_ms(event_time) < %d`, glob, cutoff.UnixMilli()),
			func(r *sql.Rows) error { return r.Scan(&n) }))
		require.Positive(t, n, "no %s events before the cutoff", typ)
		require.Equal(t, n, apiCounts[typ], "/api/events/count?event_type=%s against the lake", typ)
		sum += n
		if typ != "purchase_sword" {
			continue
		}
		var want []string
		require.NoError(t, lakecheck.Query(context.Background(), fmt.Sprintf(
			`SELECT kafka_topic, kafka_partition, kafka_offset FROM read_parquet('%s', union_by_name=true) WHERE epoch_ms(event_time) < %d
			 ORDER BY event_time, kafka_topic, kafka_partition, kafka_offset LIMIT %d`, glob, cutoff.UnixMilli(), pageSize),
			func(r *sql.Rows) error {
				var topic string
				var part, off int64
				if err := r.Scan(&topic, &part, &off); err != nil {
					return err
				}
				want = append(want, fmt.Sprintf("%s/%d/%d", topic, part, off))
				return nil
			}))
		var got []string
		for i, e := range found.Events {
			require.Equal(t, "purchase_sword", e.EventType)
			require.True(t, e.EventTime.Before(cutoff), "event %d at %s is not before the cutoff %s", i, e.EventTime, cutoff)
			require.Contains(t, string(e.Event), `"event_type":"purchase_sword"`)
			got = append(got, fmt.Sprintf("%s/%d/%d", e.KafkaTopic, e.KafkaPartition, e.KafkaOffset))
		}
		require.Equal(t, want, got, "/api/events/search: the first page")
		require.NotEmpty(t, found.NextCursor, "more than one page of purchase_sword events")
	}
	require.Equal(t, sum, apiTotal, "/api/events/count of every type")
	t.Logf("events API before %s: %v, %d in all, as in the lake", end, apiCounts, apiTotal)

	cmd := exec.Command(stacktest.SiltBin(t), "jobs")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "host_breakdown: last")
	require.Regexp(t, `(?m)^  ok +\S+ \S+ +\S+ \S+ +\S+ +1 +.*events=`, string(out))
}

// browse loads url in headless Chromium (make test installs it through
// .ci/install-deps) and checks the rendered DOM; the screenshot stays in
// test-artifacts/.
func browse(t *testing.T, url, shot string, jobs ...string) (dom string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run  sudo bash .ci/install-deps  (make test does it for you)")
	}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append(flags, args...)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, stderr.String())
		return string(out)
	}
	dom = run("--dump-dom", url)
	for _, j := range jobs {
		require.Contains(t, dom, `data-job="`+j+`"`)
	}
	bars := regexp.MustCompile(`<rect class="bar"[^>]*width="([1-9]\d*)"`).FindAllString(dom, -1)
	require.NotEmpty(t, bars, "no non-empty bar in the chart")
	_, file, _, _ := runtime.Caller(0)
	artifacts := filepath.Join(filepath.Dir(file), "..", "..", "test-artifacts")
	require.NoError(t, os.MkdirAll(artifacts, 0o755))
	run("--screenshot="+filepath.Join(artifacts, shot), "--window-size=1366,1100", url)
	return dom
}

// checkEventsChart: every point of the status page's events/s chart is
// the events the ingest runs in the lake's run history counted in its
// 10 s bucket, per second; some points are not zero.
func checkEventsChart(t *testing.T, dom, lakeDir string) {
	t.Helper()
	m := regexp.MustCompile(`(?s)id="chart-events".*?data-times="([^"]*)" data-values="([^"]*)"`).FindStringSubmatch(dom)
	require.NotNil(t, m, "no events/s series on the status page")
	store, err := lake.NewLocal(lakeDir)
	require.NoError(t, err)
	hist, err := scheduler.OpenHistory(context.Background(), store, 0)
	require.NoError(t, err)
	runs := hist.Last("ingest", scheduler.DefaultKeep)
	times, values := strings.Fields(m[1]), strings.Fields(m[2])
	require.Len(t, values, len(times))
	var charted float64
	for i := range times {
		ms, err := strconv.ParseInt(times[i], 10, 64)
		require.NoError(t, err)
		v, err := strconv.ParseFloat(values[i], 64)
		require.NoError(t, err)
		end := time.UnixMilli(ms)
		var events int64
		for _, r := range runs {
			if r.End.After(end.Add(-10*time.Second)) && !r.End.After(end) {
				events += r.Counts["events"]
			}
		}
		require.InDelta(t, float64(events)/10, v, 1e-9, "events/s in the bucket ending %s", end.UTC())
		charted += v * 10
	}
	require.Positive(t, charted, "the events/s chart is all zero")
	t.Logf("events/s chart: %d points, %.0f events charted, as the run history counts them", len(times), charted)
}
