//go:build integration

// Package eventsaggregator_test runs the events aggregator example as its
// README says, on the embedded broker, and checks what it shows.
package eventsaggregator_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"silt.yaml", "events.json", "reports/aggregates_10s.sql"} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	return dir
}

// sdkEvent is what the template makes, as far as the test needs.
type sdkEvent struct {
	Type   string `json:"event_type"`
	TS     int64  `json:"ts"`
	Params struct {
		OSType string `json:"os_type"`
	} `json:"params"`
}

// expectedEvents makes the events `silt gen --template events.json --seed
// seed --start start --step step` sends, from the same template, so the
// test knows each one's type and time.
func expectedEvents(t *testing.T, seed uint64, n int, start time.Time, step time.Duration) []sdkEvent {
	t.Helper()
	raw, err := os.ReadFile("events.json")
	require.NoError(t, err)
	tpl, err := gen.ParseTemplate("events.json", string(raw))
	require.NoError(t, err)
	src := tpl.Source(seed)
	out := make([]sdkEvent, n)
	for i := range out {
		ev := src.Next(nil, start.Add(time.Duration(i)*step))
		require.NoError(t, json.Unmarshal(ev.JSON, &out[i]))
	}
	return out
}

// apiGet calls the events API and decodes its result.
func apiGet(t *testing.T, u string, result any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", u, body)
	var envelope struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	require.NoError(t, json.Unmarshal(body, &envelope))
	require.Equal(t, "ok", envelope.Status, "%s: %s", u, body)
	require.NoError(t, json.Unmarshal(envelope.Result, result))
}

// aggregateRunOK is the daemon's line for an aggregates_10s run that
// ended ok.
var aggregateRunOK = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d aggregates_10s +ok `)

// aggregateRuns is how many aggregates_10s runs ended ok in the daemon's
// output so far.
func aggregateRuns(output string) int { return len(aggregateRunOK.FindAllString(output, -1)) }

// onlyEventType is the CSV rows (header first, event_type second) whose
// event_type is typ.
func onlyEventType(rows [][]string, typ string) [][]string {
	var out [][]string
	for i, r := range rows {
		if i > 0 && len(r) > 1 && r[1] == typ {
			out = append(out, r)
		}
	}
	return out
}

// withoutEventType is the CSV rows (header first, event_type second)
// without those whose event_type is typ.
func withoutEventType(rows [][]string, typ string) [][]string {
	var out [][]string
	for i, r := range rows {
		if i == 0 || len(r) < 2 || r[1] != typ {
			out = append(out, r)
		}
	}
	return out
}

// TestEventsAggregatorExampleE2E: 90 SDK events (ts in epoch seconds, 1.5 s
// apart) through the collector; the 10-second aggregates per event type
// are exactly what the events say, also after runs that could read the
// stored aggregates back as events, and the count and search APIs answer
// for a time range.
func TestEventsAggregatorExampleE2E(t *testing.T) {
	dir := copyExample(t)
	env := siltrun.Env("SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	status := d.StatusURL(t)
	base := d.CollectorURL(t)

	// Times in the report's default range (the last hour), fixed for the run.
	start := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	const n, seed, step = 90, 3, 1500 * time.Millisecond
	cmd := exec.Command(stacktest.SiltBin(t), "gen", "--config", "silt.yaml", "--template", "events.json", "--http", base,
		"--seed", strconv.Itoa(seed), "--count", strconv.Itoa(n), "--start", start.Format(time.RFC3339), "--step", step.String(), "--rate", "0")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	events := expectedEvents(t, seed, n, start, step)
	type key struct {
		window int64
		typ    string
	}
	perWindow := map[key]int{}
	for _, e := range events {
		perWindow[key{e.TS / 10 * 10, e.Type}]++
	}
	keys := make([]key, 0, len(perWindow))
	for k := range perWindow {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].window != keys[j].window {
			return keys[i].window < keys[j].window
		}
		return keys[i].typ < keys[j].typ
	})
	want := [][]string{{"window_start", "event_type", "events"}}
	for _, k := range keys {
		want = append(want, []string{time.Unix(k.window, 0).UTC().Format("2006-01-02T15:04:05.000Z"), k.typ, strconv.Itoa(perWindow[k])})
	}

	latest := filepath.Join(dir, "silt-data", "reports", "aggregates_10s", "latest.csv")
	readLatest := func() [][]string {
		f, err := os.Open(latest)
		if err != nil {
			return nil
		}
		defer func() { _ = f.Close() }() // read only
		rows, _ := csv.NewReader(f).ReadAll()
		return rows
	}
	// Polled until it holds every event's row; rows of the job's own table
	// are left out here so that, should the report count them as events,
	// the checks below say so rather than this wait running out.
	d.WaitFor(t, "the 10-second aggregates of every event", 3*time.Minute, func() bool {
		return reflect.DeepEqual(withoutEventType(readLatest(), "aggregates_10s"), want)
	})
	require.Greater(t, len(want), 14, "the events span a dozen windows, several types in each")

	// That run stored the aggregates in the table aggregates_10s. Two more
	// runs read the lake with the table in it: the table is the report's
	// output, not an event type, so {{events}} leaves it out and no run
	// counts the stored rows as events of type aggregates_10s.
	runs := aggregateRuns(d.Output())
	d.WaitFor(t, "two more aggregates_10s runs", 2*time.Minute, func() bool { return aggregateRuns(d.Output()) >= runs+2 })
	got := readLatest()
	require.Empty(t, onlyEventType(got, "aggregates_10s"), "latest.csv counts the stored aggregates as events")
	require.Equal(t, want, got, "latest.csv after two more runs")

	// The count API for one event type over a time range, and the search
	// API's page of the same range: the events of that range, in time order.
	from, to := start.Add(30*time.Second), start.Add(90*time.Second)
	wantCount, wantAndroid := 0, 0
	for _, e := range events {
		if e.Type == "session_start" && e.TS >= from.Unix() && e.TS < to.Unix() {
			wantCount++
			if e.Params.OSType == "android" {
				wantAndroid++
			}
		}
	}
	q := url.Values{"event_type": {"session_start"}, "start_time": {from.Format(time.RFC3339)}, "end_time": {to.Format(time.RFC3339)}}
	var count int
	apiGet(t, status+"api/events/count?"+q.Encode(), &count)
	require.Equal(t, wantCount, count, "count of session_start in [%s, %s)", from, to)
	q.Set("limit", "5")
	var page eventsapi.SearchResult
	apiGet(t, status+"api/events/search?"+q.Encode(), &page)
	require.Len(t, page.Events, min(5, wantCount))
	require.EqualValues(t, wantCount, page.Total, "the search's total")

	// A nested field of the event: params.os_type, stored as JSON text.
	q.Del("limit")
	q.Set("field.params.os_type", "android")
	var android int
	apiGet(t, status+"api/events/count?"+q.Encode(), &android)
	require.Equal(t, wantAndroid, android, "count of session_start on android in [%s, %s)", from, to)
	require.Positive(t, android)
	require.Less(t, android, wantCount, "the filter leaves some out")
	for i, e := range page.Events {
		require.Equal(t, "session_start", e.EventType)
		require.False(t, e.EventTime.Before(from) || !e.EventTime.Before(to), "event %d at %s outside the range", i, e.EventTime)
		if i > 0 {
			require.False(t, e.EventTime.Before(page.Events[i-1].EventTime), "time order")
		}
	}
	// The stored aggregates, as a user queries them: the job's lake table
	// holds the same rows as latest.csv, each once, however many runs
	// recomputed them.
	d.Stop(t)
	query := exec.Command(stacktest.SiltBin(t), "query", "--config", "silt.yaml", "--format", "csv",
		`SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%S.000Z') AS window_start, event_type, events FROM aggregates_10s ORDER BY 1, 2`)
	query.Dir, query.Env = dir, env
	stored, err := query.Output()
	require.NoError(t, err)
	storedRows, err := csv.NewReader(strings.NewReader(string(stored))).ReadAll()
	require.NoError(t, err)
	require.Empty(t, onlyEventType(storedRows, "aggregates_10s"), "the lake table aggregates_10s counts its own rows as events")
	require.Equal(t, want, storedRows, "the lake table aggregates_10s")
	t.Logf("%d aggregate rows (window, event type); %d session_start events in %s", len(want)-1, count, fmt.Sprint(from.Format(time.TimeOnly), "–", to.Format(time.TimeOnly)))
}
