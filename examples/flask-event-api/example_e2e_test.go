//go:build integration

// Package flaskeventapi_test runs the Flask event API example as its
// README says, on the embedded broker, and checks what it shows.
package flaskeventapi_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"silt.yaml", "events.json", "reports/counts_per_batch.sql"} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	return dir
}

// gen runs the README's silt gen command and returns its counts per event type.
func gen(t *testing.T, dir string, env []string, base string, seed, count int, start string) map[string]int64 {
	t.Helper()
	cmd := exec.Command(stacktest.SiltBin(t), "gen", "--config", "silt.yaml", "--template", "events.json", "--http", base,
		"--seed", strconv.Itoa(seed), "--count", strconv.Itoa(count), "--start", start, "--step", "1s", "--rate", "0", "--json")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	require.NoError(t, err, "%s", out)
	var summary struct {
		Accepted int64 `json:"accepted"`
		Counts   []struct {
			EventType string `json:"event_type"`
			Count     int64  `json:"count"`
		} `json:"counts"`
	}
	require.NoError(t, json.Unmarshal(out, &summary), "%s", out)
	require.EqualValues(t, count, summary.Accepted)
	counts := map[string]int64{}
	for _, c := range summary.Counts {
		counts[c.EventType] += c.Count
	}
	return counts
}

// TestFlaskEventAPIExampleE2E: the seed's own event posted to
// /api/events, then two loads from the example's template in two
// batches; the counts_per_batch report shows, per ingest batch and event
// type, exactly what the lake holds, and the totals are what was sent.
func TestFlaskEventAPIExampleE2E(t *testing.T) {
	dir := copyExample(t)
	env := siltrun.Env("SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	base := d.CollectorURL(t)
	root := filepath.Join(dir, "silt-data")

	code, body := siltrun.Do(t, http.MethodPost, base+"/api/events", "application/json",
		`{"event_type":"user_click","timestamp":123456789809,"params":{"key":"value"}}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.JSONEq(t, `{"accepted":1}`, body)
	code, _ = siltrun.Do(t, http.MethodPost, base+"/events", "application/json", `{"event_type":"user_click"}`)
	require.Equal(t, http.StatusNotFound, code, "only collect.post_paths take events")

	sent := map[string]int64{"user_click": 1}
	for typ, n := range gen(t, dir, env, base, 7, 60, "2026-01-01T00:00:00Z") {
		sent[typ] += n
	}
	// The second load goes out once the first is in the lake, so the two
	// land in different batches.
	d.WaitFor(t, "the first load in the lake", 2*time.Minute, func() bool {
		r, err := lakecheck.Check(context.Background(), root)
		return err == nil && r.Total >= 61
	})
	for typ, n := range gen(t, dir, env, base, 8, 40, "2026-01-01T01:00:00Z") {
		sent[typ] += n
	}

	latest := filepath.Join(root, "reports", "counts_per_batch", "latest.csv")
	var recs [][]string
	d.WaitFor(t, "every event in the counts_per_batch report", 3*time.Minute, func() bool {
		f, err := os.Open(latest)
		if err != nil {
			return false
		}
		defer func() { _ = f.Close() }() // read only: polled until it holds every row
		recs, err = csv.NewReader(f).ReadAll()
		if err != nil || len(recs) == 0 {
			return false
		}
		total := 0
		for _, r := range recs[1:] {
			n, _ := strconv.Atoi(r[2])
			total += n
		}
		return total == 101
	})
	d.Stop(t)
	t.Logf("counts_per_batch:\n%v", recs)

	require.Equal(t, []string{"batch", "event_type", "events"}, recs[0])
	reported := map[string]int64{}
	batches := map[string]bool{}
	for _, r := range recs[1:] {
		n, err := strconv.ParseInt(r[2], 10, 64)
		require.NoError(t, err)
		reported[r[1]] += n
		batches[r[0]] = true
	}
	require.Equal(t, sent, reported, "per event type, what was sent")
	require.GreaterOrEqual(t, len(batches), 2, "the two loads are in different batches")

	// The same rows read from the lake's Parquet directly, per batch.
	var fromLake [][]string
	fromLake = append(fromLake, recs[0])
	glob := filepath.Join(root, "*", "dt=*", "hour=*", "*.parquet")
	require.NoError(t, lakecheck.Query(context.Background(), fmt.Sprintf(
		`SELECT ingested_at, regexp_extract(filename, '/([a-z0-9_]+)/dt=', 1) AS event_type, count(*)
		 FROM read_parquet('%s', union_by_name=true, filename=true)
		 WHERE filename NOT LIKE '%%/_dead_letter/%%' GROUP BY ALL ORDER BY 1, 2`, glob),
		func(r *sql.Rows) error {
			var at time.Time
			var typ string
			var n int64
			if err := r.Scan(&at, &typ, &n); err != nil {
				return err
			}
			fromLake = append(fromLake, []string{at.UTC().Format("2006-01-02T15:04:05.000Z"), typ, strconv.FormatInt(n, 10)})
			return nil
		}))
	require.Equal(t, fromLake, recs, "the report is the lake's count per batch and type")

	// The seed's event, as Flask received it: its own time, params as JSON.
	var at time.Time
	var params string
	require.NoError(t, lakecheck.Query(context.Background(), fmt.Sprintf(
		`SELECT event_time, params FROM read_parquet('%s') WHERE event_time < TIMESTAMP '2000-01-01'`,
		filepath.Join(root, "user_click", "dt=*", "hour=*", "*.parquet")),
		func(r *sql.Rows) error { return r.Scan(&at, &params) }))
	require.Equal(t, time.UnixMilli(123456789809).UTC(), at.UTC())
	require.JSONEq(t, `{"key":"value"}`, params)
}
