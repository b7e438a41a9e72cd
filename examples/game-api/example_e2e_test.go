//go:build integration

// Package gameapi_test runs the game API example as its README says, on
// the embedded broker, and checks what it shows.
package gameapi_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// copyExample copies silt.yaml and reports/ into a fresh directory, where
// silt run then keeps its lake (./silt-data).
func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"silt.yaml", "reports/game_host_breakdown.sql"} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	return dir
}

// TestGameAPIExampleE2E: requests from three hosts on the three routes,
// each answered 200 with its route's text; the per-type tables hold
// exactly those requests, with their headers, in Snappy Parquet; the
// host breakdown report counts them per host.
func TestGameAPIExampleE2E(t *testing.T) {
	dir := copyExample(t)
	d := siltrun.Start(t, dir, siltrun.Env("SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0"),
		"--config", "silt.yaml", "--collect")
	base := d.CollectorURL(t)

	want := sendGameRequests(t, base)

	latest := filepath.Join(dir, "silt-data", "reports", "game_host_breakdown", "latest.csv")
	waitForCSV(t, d, latest, want)
	d.WaitForLine(t, regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d game_host_breakdown +ok .*rows=3`), time.Minute)
	d.Stop(t)

	root := filepath.Join(dir, "silt-data")
	rep, err := lakecheck.Check(context.Background(), root)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"default": 3, "purchase_sword": 8, "join_guild": 5}, rep.Rows)
	require.Zero(t, rep.Duplicates)
	require.Equal(t, map[string]bool{"SNAPPY": true}, rep.Codecs)
	// The request headers are columns of each table.
	glob := filepath.Join(root, "purchase_sword", "dt=*", "hour=*", "*.parquet")
	hosts := map[string]int{}
	require.NoError(t, lakecheck.Query(context.Background(), fmt.Sprintf(
		`SELECT host, user_agent, accept, count(*) FROM read_parquet('%s', union_by_name=true) GROUP BY ALL`, glob),
		func(r *sql.Rows) error {
			var host, ua, accept string
			var n int
			if err := r.Scan(&host, &ua, &accept, &n); err != nil {
				return err
			}
			if ua != "ApacheBench/2.3" || accept != "*/*" {
				return fmt.Errorf("headers %q %q", ua, accept)
			}
			hosts[host] = n
			return nil
		}))
	require.Equal(t, map[string]int{"game-1.example.com": 3, "game-3.example.com": 5}, hosts)
}

// gameRequests are the E2E tests' requests: host, route, how many.
var gameRequests = []struct {
	host, path string
	n          int
}{
	{"game-1.example.com", "/", 2}, {"game-1.example.com", "/purchase_a_sword", 3}, {"game-1.example.com", "/join_the_guild", 1},
	{"game-2.example.com", "/", 1}, {"game-2.example.com", "/join_the_guild", 4},
	{"game-3.example.com", "/purchase_a_sword", 5},
}

// sendGameRequests sends gameRequests to the collector at base, requiring
// each route's 200 and text, and returns the host breakdown they make.
func sendGameRequests(t *testing.T, base string) [][]string {
	t.Helper()
	texts := map[string]string{"/": "Welcome to the game!\n", "/purchase_a_sword": "You bought a sword!\n", "/join_the_guild": "You joined the guild!\n"}
	type counts struct{ home, swords, guilds int }
	perHost := map[string]*counts{}
	for _, r := range gameRequests {
		if perHost[r.host] == nil {
			perHost[r.host] = &counts{}
		}
		c := perHost[r.host]
		for range r.n {
			code, body := siltrun.Do(t, http.MethodGet, base+r.path, "", "", "Host", r.host, "User-Agent", "ApacheBench/2.3", "Accept", "*/*")
			require.Equal(t, http.StatusOK, code, "GET %s", r.path)
			require.Equal(t, texts[r.path], body, "GET %s", r.path)
		}
		switch r.path {
		case "/":
			c.home += r.n
		case "/purchase_a_sword":
			c.swords += r.n
		default:
			c.guilds += r.n
		}
	}
	want := [][]string{{"host", "home_visits", "swords_bought", "guilds_joined", "requests"}}
	for _, h := range []string{"game-1.example.com", "game-2.example.com", "game-3.example.com"} {
		c := perHost[h]
		want = append(want, []string{h, strconv.Itoa(c.home), strconv.Itoa(c.swords), strconv.Itoa(c.guilds), strconv.Itoa(c.home + c.swords + c.guilds)})
	}

	return want
}

// waitForCSV waits until the CSV file at path holds exactly want.
func waitForCSV(t *testing.T, d *siltrun.Daemon, path string, want [][]string) {
	t.Helper()
	d.WaitFor(t, "the host breakdown of every request", 3*time.Minute, func() bool {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		defer func() { _ = f.Close() }() // read only: polled until it holds every row
		got, _ := csv.NewReader(f).ReadAll()
		return reflect.DeepEqual(got, want)
	})
}
