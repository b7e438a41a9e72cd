package main

import (
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/silt-etl/silt/testbed/stacktest"
)

// `silt report --job J --at T` runs the configured job for slot T; run
// twice, the table holds each closed window once and the second run
// publishes nothing.
func TestReportJobRerunOfASlotReplaces(t *testing.T) {
	ctx := t.Context()
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(kafka.Close)
	dir := t.TempDir()
	root := filepath.Join(dir, "lake")
	store, err := lake.NewLocal(root)
	require.NoError(t, err)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var ticks []catalogtest.Event
	var samples []catalogtest.Sample
	for i := range 90 {
		sym := []string{"ACME", "GLOBX"}[i%2]
		price := 10 + float64(i%7)
		at := t0.Add(time.Duration(i) * time.Second)
		ticks = append(ticks, catalogtest.Event{Table: "tick", Time: at, Fields: map[string]any{"symbol": sym, "price": price}})
		samples = append(samples, catalogtest.Sample{Key: sym, Value: price, Time: at})
	}
	schema := lake.TableSchema{Table: "tick", Columns: []lake.Column{{Name: "symbol", Type: lake.TypeVarchar}, {Name: "price", Type: lake.TypeDouble}}}
	_, err = catalogtest.Write(ctx, store, []lake.TableSchema{schema}, ticks, 0)
	require.NoError(t, err)

	cfg := fmt.Sprintf(`kafka: {brokers: [%s]}
lake: {kind: local, root: %s}
catalog: {kind: duckdb, duckdb: {path: %s}}
jobs:
  - name: averages
    kind: report
    report: window_average
    params: {table: tick, key: symbol, value: price, window: 10s, previous_windows: "2"}
    watermark: {allowed_lateness: 20s}
    publish: {topic: averages}
    table: {name: averages}
    schedule: "@every 10s"
`, kafka.ListenAddrs()[0], root, filepath.Join(dir, "silt.duckdb"))
	path := filepath.Join(dir, "silt.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))

	// The newest tick is at t0+89s, the watermark t0+69s: windows to t0+60s.
	want := catalogtest.WindowAverages(samples, "symbol", "price", 10*time.Second, 2, time.Time{}, t0.Add(60*time.Second))
	require.Len(t, want, 1+6*2)
	slot := t0.Add(30 * time.Minute).Format(time.RFC3339)
	for range 2 {
		require.NoError(t, runReport(ctx, []string{"--config", path, "--job", "averages", "--at", slot}))
	}
	cat, err := catalog.OpenReader(ctx, catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(dir, "silt.duckdb")}, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, cat.Close()) }()
	res, err := report.Query(ctx, cat.DB(), `SELECT window_start, symbol, "count", avg_price, min_price, max_price, moving_avg_price FROM averages ORDER BY 1, 2`)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, res.WriteCSV(&b))
	require.Empty(t, catalogtest.DiffWindowAverages(want, b.String()), "each window once in the table")
	recs := stacktest.ReadTopic(t, []kgo.Opt{kgo.SeedBrokers(kafka.ListenAddrs()...)}, "averages")
	require.Len(t, recs, len(want)-1, "the re-run published nothing again")
	csv, err := os.ReadFile(filepath.Join(root, "reports", "averages", "20260301T103000.000Z.csv"))
	require.NoError(t, err)
	require.Empty(t, catalogtest.DiffWindowAverages(want, string(csv)), "the slot's CSV, where silt run writes it")

	require.ErrorContains(t, runReport(ctx, []string{"--config", path, "--job", "avg"}), "--job avg: no report job of that name in jobs (have averages)")
	require.ErrorContains(t, runReport(ctx, []string{"--config", path, "--job", "averages", "--at", "yesterday"}), `--at "yesterday": write an RFC 3339 time`)
	require.ErrorContains(t, runReport(ctx, []string{"window_average", "--config", path, "--job", "averages"}), "--job runs the job as configured")
}
