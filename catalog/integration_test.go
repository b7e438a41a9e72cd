//go:build integration

package catalog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// trinoLake is a lake under its own prefix of the stack's bucket, with a
// Trino catalog on its own schema, so tests never see each other's tables.
type trinoLake struct {
	ep     *stack.Endpoints
	store  *lake.S3
	schema string
	cfg    catalog.Options
}

func newTrinoLake(t *testing.T) *trinoLake {
	t.Helper()
	ep := stacktest.Get(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "it_catalog_" + hex.EncodeToString(b)
	store, err := lake.NewS3(t.Context(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: name,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	cfg := catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: name, Location: ep.TrinoSchemaLocation + name + "/"}}
	return &trinoLake{ep: ep, store: store, schema: name, cfg: cfg}
}

func (l *trinoLake) open(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Open(t.Context(), l.cfg, l.store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// copyLake copies every object of src into a new local lake: DuckDB reads
// the very files Trino reads.
func copyLake(t *testing.T, src lake.Store) *lake.Local {
	t.Helper()
	ctx := t.Context()
	dst, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	objs, err := src.List(ctx, "")
	require.NoError(t, err)
	for _, o := range objs {
		raw, err := lake.ReadAll(ctx, src, o.Key)
		require.NoError(t, err)
		require.NoError(t, dst.Put(ctx, o.Key, bytes.NewReader(raw), int64(len(raw))))
	}
	return dst
}

func openDuck(t *testing.T, store *lake.Local) *catalog.Catalog {
	t.Helper()
	cfg := catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb")}
	c, err := catalog.Open(t.Context(), cfg, store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.RepairAll(t.Context(), store))
	return c
}

func runCSV(t *testing.T, c *catalog.Catalog, r *reportsql.Report, params map[string]string) (string, int) {
	t.Helper()
	values, err := r.Values(params, t0.Add(3*time.Hour))
	require.NoError(t, err)
	res, err := report.Execute(t.Context(), c, r, values)
	require.NoError(t, err, "%s on %s", r.Name, c.Dialect())
	var b strings.Builder
	require.NoError(t, res.WriteCSV(&b))
	return b.String(), len(res.Rows)
}

// Every shipped report gives byte-identical CSV on Trino over MinIO and on
// DuckDB over a copy of the same files; and again after the schema grew.
func TestReportsDifferentialIntegration(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	tl := newTrinoLake(t)
	tc := tl.open(t)

	events := catalogtest.Generate(11, 800, t0, 3*time.Hour)
	half := len(events) / 2
	changes, err := catalogtest.Write(ctx, tl.store, catalogtest.Schemas(), events[:half], 0)
	require.NoError(t, err)
	require.NoError(t, tc.Register(ctx, changes))

	reports, err := reportsql.Load("")
	require.NoError(t, err)
	params := map[string]map[string]string{
		"host_breakdown":         {"start": "2024-05-01 10:20", "end": "2024-05-01 12:40"},
		"event_counts_by_window": {"window_minutes": "7", "start": "now-3h"},
		"error_alert":            {"window_minutes": "10", "threshold": "3", "start": "now-3h"},
		"moving_average":         {"previous_rows": "3", "start": "now-3h"},
		"window_average":         {"table": "purchase_sword", "key": "host", "value": "price", "window": "7m", "previous_windows": "2", "start": "now-3h"},
	}
	compare := func(stage string) {
		dc := openDuck(t, copyLake(t, tl.store))
		for _, name := range reportsql.Names(reports) {
			trino, n := runCSV(t, tc, reports[name], params[name])
			duck, _ := runCSV(t, dc, reports[name], params[name])
			require.Greater(t, n, 2, "%s %s: the report has rows to compare", stage, name)
			require.Equal(t, duck, trino, "%s %s: Trino and DuckDB differ", stage, name)
			t.Logf("%s %s: %d rows identical", stage, name, n)
		}
	}
	compare("first batch")

	// Schema growth mid-stream: purchase_sword gains rarity and damage.
	grown := catalogtest.Schemas()
	grown[2].Columns = append(grown[2].Columns, lake.Column{Name: "rarity", Type: lake.TypeVarchar}, lake.Column{Name: "damage", Type: lake.TypeBigint})
	second := events[half:]
	for i := range second {
		if second[i].Table == "purchase_sword" {
			second[i].Fields["rarity"] = "rare"
			second[i].Fields["damage"] = int64(3)
		}
	}
	changes, err = catalogtest.Write(ctx, tl.store, grown, second, int64(half))
	require.NoError(t, err)
	require.NoError(t, tc.Register(ctx, changes))
	var oldRows, newRows int64
	for _, e := range events {
		if e.Table == "purchase_sword" {
			if e.Offset < int64(half) {
				oldRows++
			} else {
				newRows++
			}
		}
	}
	var nulls, damage int64
	require.NoError(t, tc.DB().QueryRowContext(ctx, "SELECT count(*) FROM purchase_sword WHERE rarity IS NULL AND damage IS NULL").Scan(&nulls))
	require.NoError(t, tc.DB().QueryRowContext(ctx, "SELECT coalesce(sum(damage), 0) FROM purchase_sword WHERE rarity = 'rare'").Scan(&damage))
	require.Equal(t, oldRows, nulls, "rows written before the column existed read NULL")
	require.Equal(t, 3*newRows, damage)
	compare("after growth")
}

func snapshotTrino(t *testing.T, c *catalog.Catalog) []catalog.TableInfo {
	t.Helper()
	tables, err := c.Tables(t.Context())
	require.NoError(t, err)
	return tables
}

// Registering a batch twice and repairing from the lake leave Trino's
// catalog as it was; the trino CLI sees the tables and their rows.
func TestTrinoIdempotentAndCLIIntegration(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	tl := newTrinoLake(t)
	tc := tl.open(t)
	events := catalogtest.Generate(5, 300, t0, 150*time.Minute)
	changes, err := catalogtest.Write(ctx, tl.store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	require.NoError(t, tc.Register(ctx, changes))
	before := snapshotTrino(t, tc)
	require.Len(t, before, 3)

	require.NoError(t, tc.Register(ctx, changes))
	require.Equal(t, before, snapshotTrino(t, tc), "registering the same batch again")
	require.NoError(t, tc.RepairAll(ctx, tl.store))
	require.Equal(t, before, snapshotTrino(t, tc), "a full repair")

	// A column whose type changed is refused, never retyped: the old files
	// would no longer read.
	var retyped []catalog.Change
	for _, c := range changes {
		if c.Schema.Table == "purchase_sword" {
			c.Schema.Columns = []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "sword", Type: lake.TypeVarchar}, {Name: "price", Type: lake.TypeVarchar}}
			retyped = append(retyped, c)
		}
	}
	require.ErrorContains(t, tc.Register(ctx, retyped), "column price is double in the catalog but varchar in the lake")
	require.Equal(t, before, snapshotTrino(t, tc), "a refused retype changes nothing")

	// A catalog that missed every batch is repaired to the same state.
	require.NoError(t, tc.Close())
	_, err = tc.DB().ExecContext(ctx, "SELECT 1")
	require.Error(t, err)
	tc2 := tl.open(t)
	for _, ti := range before {
		_, err := tc2.DB().ExecContext(ctx, "DROP TABLE "+tc2.Qualified(ti.Name))
		require.NoError(t, err)
	}
	require.NoError(t, tc2.RepairAll(ctx, tl.store))
	require.Equal(t, before, snapshotTrino(t, tc2), "repair from nothing")

	want := map[string]int{}
	for _, e := range events {
		want[e.Table]++
	}
	for _, ti := range before {
		require.Equal(t, int64(want[ti.Name]), ti.Rows, ti.Name)
		q := fmt.Sprintf("SELECT count(*) FROM %s", ti.Name)
		args := append(append([]string{}, tl.ep.TrinoCLI[1:]...), "--catalog", tl.ep.TrinoCatalog, "--schema", tl.schema, "--output-format", "TSV", "--execute", q)
		cmd := exec.CommandContext(ctx, tl.ep.TrinoCLI[0], args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "trino CLI: %s", stderr.String())
		require.Equal(t, fmt.Sprint(want[ti.Name]), strings.TrimSpace(string(out)), ti.Name)
	}
}
