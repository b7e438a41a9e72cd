//go:build integration

package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// As a user would: produce events, `silt ingest --once` (first while the
// catalog is down, then again once it is up), then the trino CLI,
// trino-go-client, `silt tables`, `silt register --all`, `silt query` and
// `silt report` all see exactly them.
func TestE2EIngestThenTrinoCLIAndReport(t *testing.T) {
	ep := stacktest.Get(t)
	bin := stacktest.SiltBin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	name := fmt.Sprintf("e2e_report_%d", time.Now().UnixNano()%1e9)

	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(name))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, name)
	require.NoError(t, err)

	// Two rounds of events in different hours, so the second run's own
	// registration cannot cover the first's partitions: only the repair
	// the first run asked for can. Round B's sword purchases carry a field
	// round A's lack (schema growth through ingest).
	now := time.Now().UTC()
	startA := now.Add(-3 * time.Hour).Truncate(time.Hour).Add(5 * time.Minute)
	// Each round stays inside one hour (A spans 10 minutes, B 5), whatever
	// the time of day: the test expects one partition per table and round.
	startB := now.Add(-time.Hour).Truncate(time.Hour).Add(5 * time.Minute)
	perType := map[string]int{}
	perHost := map[string]int{}
	perHostType := map[string]int{}
	type window struct{ lines, errors int }
	logWindows := map[string]*window{} // by minute, RFC 3339
	swordsA, ranked := 0, 0
	g := gen.NewEvents(42, nil, nil)
	round := func(start time.Time, n int, grow bool) []*kgo.Record {
		var recs []*kgo.Record
		for i := range n {
			at := start.Add(time.Duration(i) * time.Second)
			ev := g.Next(nil, at)
			perType[ev.Type]++
			perHost[ev.Host]++
			perHostType[ev.Host+","+ev.Type]++
			b := append([]byte(nil), ev.JSON...)
			if ev.Type == "purchase_sword" {
				if grow {
					b = append(b[:len(b)-1], fmt.Sprintf(`,"guild_rank":%d}`, i%7)...)
					ranked++
				} else {
					swordsA++
				}
			}
			recs = append(recs, &kgo.Record{Value: b})
			if i%5 == 0 { // a log line every 5 s, every 3rd or 7th an ERROR
				level := "INFO"
				if i%3 == 0 || i%7 == 0 {
					level = "ERROR"
				}
				host := g.Hosts[i%len(g.Hosts)]
				minute := at.Truncate(time.Minute).Format(time.RFC3339)
				w := logWindows[minute]
				if w == nil {
					w = &window{}
					logWindows[minute] = w
				}
				w.lines++
				if level == "ERROR" {
					w.errors++
				}
				perType["log"]++
				perHost[host]++
				perHostType[host+",log"]++
				recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil,
					`{"event_type":"log","timestamp":%q,"host":%q,"level":%q,"message":"line %d"}`,
					at.Format(time.RFC3339Nano), host, level, i)})
			}
		}
		return recs
	}
	require.NoError(t, cl.ProduceSync(ctx, round(startA, 600, false)...).FirstErr())
	countA := sumCounts(perType)

	env := append(os.Environ(), ep.Env()...)
	env = append(env, "SILT_KAFKA_TOPICS="+name, "SILT_KAFKA_GROUP="+name, "SILT_S3_PREFIX="+name,
		"SILT_TRINO_SCHEMA="+name, "SILT_TRINO_LOCATION="+ep.TrinoSchemaLocation+name+"/")
	cfg := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log:\n  level: info\n"), 0o644))
	siltEnv := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append(args, "--config", cfg)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "silt %v: %s", args, stderr.String())
		t.Logf("silt %v: stderr:\n%s", args, stderr.String())
		return string(out)
	}
	silt := func(args ...string) string { t.Helper(); return siltEnv(env, args...) }
	ingestedBy := func(out string) int64 {
		t.Helper()
		var totals struct{ Events, Batches int64 }
		require.NoError(t, json.Unmarshal([]byte(out), &totals), out)
		require.EqualValues(t, 1, totals.Batches)
		return totals.Events
	}

	// Round A while the catalog is down: ingest still lands and commits
	// everything, and leaves the catalog marked for repair.
	down := append(append([]string{}, env...), "SILT_TRINO_URL=http://silt@"+deadAddr(t))
	require.EqualValues(t, countA, ingestedBy(siltEnv(down, "ingest", "--once", "--json-stats")))
	require.Zero(t, stacktest.GroupLag(t, ep.KafkaBrokers, name, name))
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: name,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	_, err = store.Stat(ctx, lake.MetaPrefix+"register-pending")
	require.NoError(t, err, "a failed registration must leave the repair marker")

	// Round B with the catalog up: one batch registers it and repairs A.
	require.NoError(t, cl.ProduceSync(ctx, round(startB, 300, true)...).FirstErr())
	require.EqualValues(t, sumCounts(perType)-countA, ingestedBy(silt("ingest", "--once", "--json-stats")))
	_, err = store.Stat(ctx, lake.MetaPrefix+"register-pending")
	require.ErrorIs(t, err, lake.ErrNotExist, "the repair marker must be gone once the catalog is repaired: %v", err)

	trinoCLI := func(q string) string {
		t.Helper()
		args := append(append([]string{}, ep.TrinoCLI[1:]...), "--catalog", ep.TrinoCatalog, "--schema", name, "--output-format", "TSV", "--execute", q)
		cmd := exec.CommandContext(ctx, ep.TrinoCLI[0], args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "trino CLI %q: %s", q, stderr.String())
		return strings.TrimSpace(string(out))
	}
	for typ, want := range perType {
		q := fmt.Sprintf(`SELECT count(*) FROM "%s"`, typ) // default is a reserved word
		require.Equal(t, strconv.Itoa(want), trinoCLI(q), typ)
	}
	// The grown column: B's values, NULL in A's rows.
	require.Equal(t, fmt.Sprintf("%d\t%d", ranked, swordsA),
		trinoCLI(`SELECT count(guild_rank), count_if(guild_rank IS NULL) FROM purchase_sword`))

	// SELECT host, count(*) ... GROUP BY host over every event table, through
	// the trino CLI and through trino-go-client, as the seed pipeline asked.
	var union []string
	for typ := range perType {
		union = append(union, fmt.Sprintf(`SELECT host FROM "%s"`, typ))
	}
	byHost := "SELECT host, count(*) FROM (" + strings.Join(union, " UNION ALL ") + ") GROUP BY host ORDER BY host"
	gotCLI := map[string]int{}
	for _, line := range strings.Split(trinoCLI(byHost), "\n") {
		h, c, ok := strings.Cut(line, "\t")
		require.True(t, ok, line)
		gotCLI[h], err = strconv.Atoi(c)
		require.NoError(t, err)
	}
	require.Equal(t, perHost, gotCLI, "trino CLI: events per host")
	tc, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: name, Location: ep.TrinoSchemaLocation + name + "/",
	}}, store)
	require.NoError(t, err)
	defer func() { _ = tc.Close() }()
	rows, err := tc.DB().QueryContext(ctx, byHost)
	require.NoError(t, err)
	gotClient := map[string]int{}
	for rows.Next() {
		var h string
		var c int
		require.NoError(t, rows.Scan(&h, &c))
		gotClient[h] = c
	}
	require.NoError(t, rows.Err())
	require.Equal(t, perHost, gotClient, "trino-go-client: events per host")

	// silt tables: rows, partitions (one hour per round) and the columns.
	tables := silt("tables")
	for typ, want := range perType {
		require.Contains(t, tables, fmt.Sprintf("%s  %d rows, 2 partitions (dt=%s/hour=%02d .. dt=%s/hour=%02d)",
			typ, want, startA.Format("2006-01-02"), startA.Hour(), startB.Format("2006-01-02"), startB.Hour()))
	}
	require.Regexp(t, `(?m)^log  .*\n  columns: .*\blevel varchar\b.*\bmessage varchar\b`, tables)
	require.Regexp(t, `(?m)^purchase_sword  .*\n  columns: .*\bguild_rank double\b`, tables)
	// A full repair changes nothing.
	silt("register", "--all")
	require.Equal(t, tables, silt("tables"), "silt register --all must leave the catalog as it was")

	// silt query in each format.
	q := "SELECT count(*) AS n, count(guild_rank) AS ranked FROM purchase_sword"
	require.Equal(t, fmt.Sprintf("n,ranked\r\n%d,%d\r\n", perType["purchase_sword"], ranked), silt("query", q, "--format", "csv"))
	require.JSONEq(t, fmt.Sprintf(`[{"n": %d, "ranked": %d}]`, perType["purchase_sword"], ranked), silt("query", q, "--format", "json"))
	require.Regexp(t, fmt.Sprintf(`^n +ranked\n-+ +-+\n%d +%d\n\(1 rows\)\n$`, perType["purchase_sword"], ranked), silt("query", q))

	readCSV := func(args ...string) [][]string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "report.csv")
		silt(append([]string{"report"}, append(args, "--out", path)...)...)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		require.NoError(t, err)
		return rows
	}
	got := map[string]int{}
	for _, r := range readCSV("host_breakdown", "--param", "start=now-4h")[1:] {
		c, err := strconv.Atoi(r[2])
		require.NoError(t, err)
		got[r[0]+","+r[1]] = c
	}
	require.Equal(t, perHostType, got)

	// error_alert: lines and ERRORs per minute, counted as they were made.
	alerts := readCSV("error_alert", "--param", "start=now-4h")
	require.Equal(t, []string{"window_start", "lines", "errors"}, alerts[0][:3])
	gotWindows := map[string]window{}
	for _, r := range alerts[1:] {
		at, err := time.Parse(time.RFC3339Nano, r[0])
		require.NoError(t, err, r[0])
		lines, err := strconv.Atoi(r[1])
		require.NoError(t, err)
		errs, err := strconv.Atoi(r[2])
		require.NoError(t, err)
		gotWindows[at.Format(time.RFC3339)] = window{lines, errs}
	}
	wantWindows := map[string]window{}
	for at, w := range logWindows {
		wantWindows[at] = *w
	}
	require.Equal(t, wantWindows, gotWindows)

	// The differential on ingest's own Parquet: every shipped report gives
	// the same CSV on Trino and on DuckDB over a local copy of the files.
	local, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	objs, err := store.List(ctx, "")
	require.NoError(t, err)
	for _, o := range objs {
		b, err := lake.ReadAll(ctx, store, o.Key)
		require.NoError(t, err)
		require.NoError(t, local.Put(ctx, o.Key, bytes.NewReader(b), int64(len(b))))
	}
	dc, err := catalog.Open(ctx, catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb")}, local)
	require.NoError(t, err)
	defer func() { _ = dc.Close() }()
	require.NoError(t, dc.RepairAll(ctx, local))
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	at := now
	// Params beyond start for reports whose defaults name other data: the
	// game's sword prices per host stand in for window_average's ticks.
	params := map[string]map[string]string{
		"window_average": {"table": "purchase_sword", "key": "host", "value": "price", "window": "7m", "previous_windows": "2"},
	}
	for _, rn := range reportsql.Names(reports) {
		r := reports[rn]
		given := map[string]string{"start": "now-4h"}
		maps.Copy(given, params[rn])
		values, err := r.Values(given, at)
		require.NoError(t, err)
		var csvs []string
		for _, c := range []*catalog.Catalog{tc, dc} {
			res, err := report.Execute(ctx, c, r, values)
			require.NoError(t, err, "%s on %s", rn, c.Dialect())
			var b strings.Builder
			require.NoError(t, res.WriteCSV(&b))
			csvs = append(csvs, b.String())
		}
		require.Equal(t, csvs[1], csvs[0], "%s: Trino and DuckDB differ on ingest's files", rn)
		require.Greater(t, strings.Count(csvs[0], "\n"), 2, "%s: too few rows to compare", rn)
		t.Logf("%s: %d lines identical on both engines", rn, strings.Count(csvs[0], "\n"))
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// deadAddr is a loopback address nothing listens on: a catalog that is down.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
