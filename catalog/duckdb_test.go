package catalog_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/lake"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func duckConfig(t *testing.T, root string) catalog.Options {
	t.Helper()
	return catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb")}
}

// snapshot is everything the catalog shows: view definitions and tables.
func snapshot(t *testing.T, ctx context.Context, c *catalog.Catalog) (map[string]string, []catalog.TableInfo) {
	t.Helper()
	rows, err := c.DB().QueryContext(ctx, "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	views := map[string]string{}
	for rows.Next() {
		var n, s string
		require.NoError(t, rows.Scan(&n, &s))
		views[n] = s
	}
	require.NoError(t, rows.Err())
	tables, err := c.Tables(ctx)
	require.NoError(t, err)
	return views, tables
}

func count(t *testing.T, c *catalog.Catalog, q string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, c.DB().QueryRow(q).Scan(&n))
	return n
}

func TestDuckDBRegisterGrowRepair(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cfg := duckConfig(t, store.Root())

	events := catalogtest.Generate(1, 300, t0, 150*time.Minute) // 3 or 4 hourly partitions per table
	changes, err := catalogtest.Write(ctx, store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)

	c, err := catalog.Open(ctx, cfg, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.Register(ctx, changes))

	want := map[string]int64{}
	wantParts := map[string]map[lake.Partition]bool{}
	for _, e := range events {
		want[e.Table]++
		p := lake.PartitionOf(e.Table, e.Time)
		if wantParts[e.Table] == nil {
			wantParts[e.Table] = map[lake.Partition]bool{}
		}
		wantParts[e.Table][p] = true
	}
	_, tables := snapshot(t, ctx, c)
	require.Len(t, tables, 3)
	for _, ti := range tables {
		require.Equal(t, want[ti.Name], ti.Rows, ti.Name)
		require.Len(t, ti.Partitions, len(wantParts[ti.Name]), ti.Name)
		for _, p := range ti.Partitions {
			require.True(t, wantParts[ti.Name][p], "%s unexpected", p)
		}
		require.Equal(t, "event_time", ti.Columns[0].Name)
		require.Equal(t, lake.PartitionColumns, ti.Columns[len(ti.Columns)-2:])
	}
	// Values survive the round trip: times to the millisecond, doubles exactly.
	first := events[0]
	var gotTime time.Time
	var gotHost string
	require.NoError(t, c.DB().QueryRow(`SELECT event_time, host FROM "`+first.Table+`" WHERE kafka_offset = 0`).Scan(&gotTime, &gotHost))
	require.Equal(t, first.Time, gotTime.UTC())
	require.Equal(t, first.Fields["host"], gotHost)

	// Idempotence: the same batch again changes nothing.
	views1, tables1 := snapshot(t, ctx, c)
	require.NoError(t, c.Register(ctx, changes))
	views2, tables2 := snapshot(t, ctx, c)
	require.Equal(t, views1, views2)
	require.Equal(t, tables1, tables2)

	// Schema growth: purchase_sword gains rarity mid-stream.
	grown := catalogtest.Schemas()
	grown[2].Columns = append(grown[2].Columns, lake.Column{Name: "rarity", Type: lake.TypeVarchar}, lake.Column{Name: "damage", Type: lake.TypeBigint})
	more := []catalogtest.Event{
		{Table: "purchase_sword", Time: t0.Add(30 * time.Minute), Fields: map[string]any{"host": "h", "sword": "katana", "price": 1.5, "rarity": "epic", "damage": int64(7)}},
		{Table: "purchase_sword", Time: t0.Add(5 * time.Hour), Fields: map[string]any{"host": "h", "sword": "katana", "price": 2.5, "rarity": "rare", "damage": int64(9)}},
	}
	changes2, err := catalogtest.Write(ctx, store, grown[2:], more, 10_000)
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, changes2))
	require.Equal(t, want["purchase_sword"]+2, count(t, c, `SELECT count(*) FROM purchase_sword`))
	require.Equal(t, want["purchase_sword"], count(t, c, `SELECT count(*) FROM purchase_sword WHERE rarity IS NULL AND damage IS NULL`))
	require.Equal(t, int64(16), count(t, c, `SELECT sum(damage) FROM purchase_sword`))

	// A full repair from the lake gives the same catalog as the batches did.
	views3, tables3 := snapshot(t, ctx, c)
	require.NoError(t, c.RepairAll(ctx, store))
	views4, tables4 := snapshot(t, ctx, c)
	require.Equal(t, views3, views4)
	require.Equal(t, tables3, tables4)

	// And a fresh database repaired from the lake equals the incremental one.
	cfg2 := duckConfig(t, store.Root())
	c2, err := catalog.Open(ctx, cfg2, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c2.Close()) }()
	require.NoError(t, c2.RepairAll(ctx, store))
	views5, tables5 := snapshot(t, ctx, c2)
	require.Equal(t, views3, views5)
	require.True(t, reflect.DeepEqual(tables3, tables5))
}

func TestDuckDBEmptyTableAndReader(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cfg := duckConfig(t, store.Root())
	s := lake.TableSchema{Table: "quiet", Columns: []lake.Column{{Name: "host", Type: lake.TypeVarchar}}}
	require.NoError(t, lake.SaveSchema(ctx, store, s))

	c, err := catalog.Open(ctx, cfg, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.RepairAll(ctx, store)) // no files: the view still exists
	require.Equal(t, int64(0), count(t, c, `SELECT count(*) FROM quiet WHERE host IS NOT NULL`))

	events := []catalogtest.Event{{Table: "quiet", Time: t0, Fields: map[string]any{"host": "a"}}}
	changes, err := catalogtest.Write(ctx, store, []lake.TableSchema{s}, events, 0)
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, changes))
	require.Equal(t, int64(1), count(t, c, `SELECT count(*) FROM quiet`))

	// While c holds the file, a reader falls back to the lake itself.
	r, err := catalog.OpenReader(ctx, cfg, store)
	require.NoError(t, err)
	require.Equal(t, int64(1), count(t, r, `SELECT count(*) FROM quiet WHERE host = 'a'`))
	require.NoError(t, r.Close())

	// Once it is released, the reader uses the file read-only.
	require.NoError(t, c.Close())
	r, err = catalog.OpenReader(ctx, cfg, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	require.Equal(t, int64(1), count(t, r, `SELECT count(*) FROM quiet`))
	require.Error(t, r.Register(ctx, changes), "a read-only catalog does not register")
}

func TestRegisterRejectsBadNames(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	c, err := catalog.Open(ctx, duckConfig(t, store.Root()), store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	good := lake.TableSchema{Table: "t", Columns: []lake.Column{{Name: "a", Type: lake.TypeVarchar}}}
	for name, ch := range map[string]catalog.Change{
		"table":        {Schema: lake.TableSchema{Table: `t"; DROP TABLE x; --`}},
		"column":       {Schema: lake.TableSchema{Table: "t", Columns: []lake.Column{{Name: "A b", Type: lake.TypeVarchar}}}},
		"type":         {Schema: lake.TableSchema{Table: "t", Columns: []lake.Column{{Name: "a", Type: "text"}}}},
		"system dup":   {Schema: lake.TableSchema{Table: "t", Columns: []lake.Column{{Name: "kafka_offset", Type: lake.TypeBigint}}}},
		"partition":    {Schema: lake.TableSchema{Table: "t", Columns: []lake.Column{{Name: "dt", Type: lake.TypeVarchar}}}},
		"date":         {Schema: good, Partitions: []lake.Partition{{Table: "t", Date: "2024-13-01", Hour: "00"}}},
		"date quote":   {Schema: good, Partitions: []lake.Partition{{Table: "t", Date: "2024-01-01'", Hour: "00"}}},
		"hour":         {Schema: good, Partitions: []lake.Partition{{Table: "t", Date: "2024-01-01", Hour: "24"}}},
		"other table":  {Schema: good, Partitions: []lake.Partition{{Table: "u", Date: "2024-01-01", Hour: "01"}}},
		"hour letters": {Schema: good, Partitions: []lake.Partition{{Table: "t", Date: "2024-01-01", Hour: "1a"}}},
	} {
		require.Error(t, c.Register(ctx, []catalog.Change{ch}), name)
	}
	require.NoError(t, c.Register(ctx, []catalog.Change{{Schema: good, Partitions: []lake.Partition{{Table: "t", Date: "2024-01-01", Hour: "23"}}}}))
}
