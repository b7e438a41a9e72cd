//go:build integration

package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
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
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/stack/stacktest"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// As a user would: produce events, `silt ingest --once`, then the trino
// CLI, `silt tables`, `silt query` and `silt report` all see exactly them.
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
	const n = 900
	g := gen.NewEvents(42, nil, nil)
	start := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	perType := map[string]int{}
	perHostType := map[string]int{}
	var recs []*kgo.Record
	for i := range n {
		ev := g.Next(nil, start.Add(time.Duration(i)*time.Second))
		perType[ev.Type]++
		perHostType[ev.Host+","+ev.Type]++
		recs = append(recs, &kgo.Record{Value: append([]byte(nil), ev.JSON...)})
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	env := append(os.Environ(), ep.Env()...)
	env = append(env, "SILT_KAFKA_TOPICS="+name, "SILT_KAFKA_GROUP="+name, "SILT_S3_PREFIX="+name,
		"SILT_TRINO_SCHEMA="+name, "SILT_TRINO_LOCATION="+ep.TrinoSchemaLocation+name+"/")
	cfg := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log:\n  level: info\n"), 0o644))
	silt := func(args ...string) string {
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
	// Until caught up: `ingest --once` may spend its one batch on the
	// consumer group join and return with 0 events (reported to the lead).
	silt("ingest")

	for typ, want := range perType {
		q := fmt.Sprintf(`SELECT count(*) FROM "%s"`, typ) // default is a reserved word
		args := append(append([]string{}, ep.TrinoCLI[1:]...), "--catalog", ep.TrinoCatalog, "--schema", name, "--output-format", "TSV", "--execute", q)
		cmd := exec.CommandContext(ctx, ep.TrinoCLI[0], args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "trino CLI: %s", stderr.String())
		require.Equal(t, strconv.Itoa(want), strings.TrimSpace(string(out)), typ)
	}

	tables := silt("tables")
	for typ, want := range perType {
		require.Contains(t, tables, fmt.Sprintf("%s  %d rows", typ, want))
	}
	out := silt("query", "SELECT count(*) AS n FROM purchase_sword WHERE price IS NOT NULL", "--format", "csv")
	require.Equal(t, fmt.Sprintf("n\r\n%d\r\n", perType["purchase_sword"]), out)

	csvPath := filepath.Join(t.TempDir(), "hosts.csv")
	silt("report", "host_breakdown", "--out", csvPath, "--param", "start=now-2h")
	raw, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	require.NoError(t, err)
	got := map[string]int{}
	for _, r := range rows[1:] {
		c, err := strconv.Atoi(r[2])
		require.NoError(t, err)
		got[r[0]+","+r[1]] = c
	}
	require.Equal(t, perHostType, got)

	// The differential on ingest's own Parquet: every shipped report gives
	// the same CSV on Trino and on DuckDB over a local copy of the files.
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: name,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	local, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	objs, err := store.List(ctx, "")
	require.NoError(t, err)
	for _, o := range objs {
		b, err := lake.ReadAll(ctx, store, o.Key)
		require.NoError(t, err)
		require.NoError(t, local.Put(ctx, o.Key, bytes.NewReader(b), int64(len(b))))
	}
	tcfg := config.Default()
	tcfg.Catalog.Kind = "trino"
	tcfg.Catalog.Trino = config.Trino{URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: name, Location: ep.TrinoSchemaLocation + name + "/"}
	tc, err := catalog.Open(ctx, tcfg, store)
	require.NoError(t, err)
	defer tc.Close()
	dcfg := config.Default()
	dcfg.Lake.Root = local.Root()
	dcfg.Catalog.DuckDB.Path = filepath.Join(t.TempDir(), "silt.duckdb")
	dc, err := catalog.Open(ctx, dcfg, local)
	require.NoError(t, err)
	defer dc.Close()
	require.NoError(t, dc.RepairAll(ctx, local))
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	at := start.Add(time.Hour)
	for _, rn := range reportsql.Names(reports) {
		r := reports[rn]
		values, err := r.Values(map[string]string{"start": "now-2h"}, at)
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
		t.Logf("%s: %d lines identical on both engines", rn, strings.Count(csvs[0], "\n"))
	}
}
