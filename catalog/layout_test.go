package catalog_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/lake"
)

// TestDuckDBYearMonthDayHourLayout registers a lake written
// year=/month=/day=/hour= and queries it by those partition keys: every
// hour's count is what the events hold, and the partitions listed are
// exactly the hours written.
func TestDuckDBYearMonthDayHourLayout(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	start := time.Date(2024, 12, 31, 22, 30, 0, 0, time.UTC) // crosses a year, a month and a day
	events := catalogtest.Generate(7, 400, start, 3*time.Hour)
	changes, err := catalogtest.WriteLayout(ctx, store, lake.YearMonthDayHour, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)

	opts := catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb"), Layout: lake.YearMonthDayHour}
	c, err := catalog.Open(ctx, opts, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.Register(ctx, changes))
	checkYearMonthDayHour(t, c, events)

	// The same from a repair, and from a reader that builds the views in
	// memory (the file is held by c).
	require.NoError(t, c.RepairAll(ctx, store))
	checkYearMonthDayHour(t, c, events)
	r, err := catalog.OpenReader(ctx, opts, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	checkYearMonthDayHour(t, r, events)
}

// checkYearMonthDayHour compares c's tables with events, hour by hour,
// through the year, month, day and hour partition keys.
func checkYearMonthDayHour(t *testing.T, c *catalog.Catalog, events []catalogtest.Event) {
	t.Helper()
	ctx := t.Context()
	perHour := map[lake.Partition]int64{}
	for _, e := range events {
		perHour[lake.YearMonthDayHour.PartitionOf(e.Table, e.Time)]++
	}
	tables, err := c.Tables(ctx)
	require.NoError(t, err)
	require.Len(t, tables, 3)
	listed := 0
	for _, ti := range tables {
		var keys []string
		for _, col := range ti.Columns[len(ti.Columns)-4:] {
			keys = append(keys, col.Name)
		}
		require.Equal(t, []string{"year", "month", "day", "hour"}, keys, "%s: the partition keys come last", ti.Name)
		for _, p := range ti.Partitions {
			require.Equal(t, lake.YearMonthDayHour, p.Layout)
			want, ok := perHour[p]
			require.True(t, ok, "%s was not written", p)
			v := p.Values()
			var n int64
			q := fmt.Sprintf("SELECT count(*) FROM %s WHERE year = ? AND month = ? AND day = ? AND hour = ?", c.Qualified(ti.Name))
			require.NoError(t, c.DB().QueryRowContext(ctx, q, v[0], v[1], v[2], v[3]).Scan(&n))
			require.Equal(t, want, n, "%s", p)
			listed++
		}
	}
	require.Len(t, perHour, listed, "every hour written is listed once")
	var n int64
	require.NoError(t, c.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+c.Qualified("log")+" WHERE year = '2025' AND month = '01'").Scan(&n))
	var want int64
	for _, e := range events {
		if e.Table == "log" && e.Time.Year() == 2025 {
			want++
		}
	}
	require.Positive(t, want)
	require.Equal(t, want, n)
}

// A catalog in one layout refuses partitions of the other: they are not
// its tables' directories, and registering them would misplace the rows.
func TestCatalogRefusesPartitionsOfTheOtherLayout(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	events := catalogtest.Generate(3, 20, t0, time.Hour)
	changes, err := catalogtest.WriteLayout(ctx, store, lake.YearMonthDayHour, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	c, err := catalog.Open(ctx, catalog.Options{Kind: "duckdb", Layout: lake.DtHour}, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	err = c.Register(ctx, changes)
	require.ErrorContains(t, err, "is in layout year_month_day_hour, but lake.layout is dt_hour")
	err = c.RepairAll(ctx, store)
	require.ErrorContains(t, err, "is in layout year_month_day_hour, but lake.layout is dt_hour")
}

// An event column named like a partition key of the layout cannot be
// registered: the engine would have two columns of one name.
func TestCatalogRefusesAColumnNamedLikeAPartitionKey(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	c, err := catalog.Open(ctx, catalog.Options{Kind: "duckdb", Layout: lake.YearMonthDayHour}, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	s := lake.TableSchema{Table: "t", Columns: []lake.Column{{Name: "month", Type: lake.TypeVarchar}}}
	require.ErrorContains(t, c.Register(ctx, []catalog.Change{{Schema: s}}), `column "month" appears twice or is a partition key`)
}
