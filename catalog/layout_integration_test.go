//go:build integration

package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/lake"
)

// TestTrinoYearMonthDayHourLayoutIntegration registers a lake written
// year=/month=/day=/hour= in real Trino through the Hive Metastore
// catalog: the tables are partitioned by year, month, day and hour, each
// partition's count queried by those keys is what the events hold, the
// DuckDB views over the same files agree, and dropping partitions
// unregisters exactly them.
func TestTrinoYearMonthDayHourLayoutIntegration(t *testing.T) {
	ctx := t.Context()
	tl := newTrinoLake(t)
	if tl.ep.TrinoMetastoreCatalog == "" {
		t.Fatal("the plain stack runs no Hive Metastore catalog (trino_metastore_catalog): start it with one")
	}
	tl.cfg.Trino.Catalog = tl.ep.TrinoMetastoreCatalog
	tl.cfg.Layout = lake.YearMonthDayHour
	start := time.Date(2024, 12, 31, 22, 30, 0, 0, time.UTC) // crosses a year, a month and a day
	events := catalogtest.Generate(11, 300, start, 3*time.Hour)
	changes, err := catalogtest.WriteLayout(ctx, tl.store, lake.YearMonthDayHour, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	c := tl.open(t)
	require.NoError(t, c.Register(ctx, changes))
	checkYearMonthDayHour(t, c, events)

	var keys string
	q := fmt.Sprintf(`SELECT array_join(array_agg(column_name ORDER BY ordinal_position), ',') FROM %s.information_schema.columns
		WHERE table_schema = ? AND table_name = 'log' AND extra_info = 'partition key'`, catalog.Quote(tl.ep.TrinoMetastoreCatalog))
	require.NoError(t, c.DB().QueryRowContext(ctx, q, tl.schema).Scan(&keys))
	require.Equal(t, "year,month,day,hour", keys, "the table's partition keys in the metastore")

	duck := openDuckLayout(t, copyLake(t, tl.store), lake.YearMonthDayHour)
	checkYearMonthDayHour(t, duck, events)

	// Registering again (a repair) adds nothing twice.
	require.NoError(t, c.RepairAll(ctx, tl.store))
	checkYearMonthDayHour(t, c, events)

	tables, err := c.Tables(ctx)
	require.NoError(t, err)
	var logParts []lake.Partition
	for _, ti := range tables {
		if ti.Name == "log" {
			logParts = ti.Partitions
		}
	}
	require.Len(t, logParts, 4, "22:00, 23:00 on Dec 31, 00:00 and 01:00 on Jan 1")
	require.NoError(t, c.DropPartitions(ctx, "log", logParts[:2]))
	tables, err = c.Tables(ctx)
	require.NoError(t, err)
	for _, ti := range tables {
		if ti.Name == "log" {
			require.Equal(t, logParts[2:], ti.Partitions, "the 2024 hours are unregistered, the 2025 ones stay")
		}
	}
}

// A table made partitioned by dt and hour is refused by a catalog of the
// other layout, with the fix, instead of registering partitions under
// keys the table does not have.
func TestTrinoRefusesATableOfTheOtherLayoutIntegration(t *testing.T) {
	ctx := t.Context()
	tl := newTrinoLake(t)
	events := catalogtest.Generate(5, 30, t0, time.Hour)
	changes, err := catalogtest.WriteLayout(ctx, tl.store, lake.DtHour, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	require.NoError(t, tl.open(t).Register(ctx, changes))

	tl.cfg.Layout = lake.YearMonthDayHour
	other := tl.open(t)
	err = other.Register(ctx, []catalog.Change{{Schema: changes[0].Schema}})
	require.ErrorContains(t, err, "has no partition key year of lake.layout year_month_day_hour: it was made with another layout; drop it")
}

func openDuckLayout(t *testing.T, store *lake.Local, layout lake.Layout) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Open(t.Context(), catalog.Options{Kind: "duckdb", Layout: layout}, store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.RepairAll(t.Context(), store))
	return c
}
