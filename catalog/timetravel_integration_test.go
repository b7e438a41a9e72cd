//go:build integration

package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

// TestTimeTravelReadsTheTableAsOfASnapshotIntegration: after a second
// batch, the table read as of the first batch's snapshot, and as of the
// time it was committed, has the first batch's rows only, in a query and
// in the host_breakdown report; read now, both batches. Hive and DuckDB
// catalogs refuse --as-of with the reason.
func TestTimeTravelReadsTheTableAsOfASnapshotIntegration(t *testing.T) {
	ctx := t.Context()
	it := newIcebergTable(t, "it_icett_")
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	require.NoError(t, it.insert(ctx, hour, 30, 0))
	var first int64
	var firstAt time.Time
	require.NoError(t, it.cat.DB().QueryRowContext(ctx, "SELECT snapshot_id, committed_at FROM "+it.snaps+" ORDER BY committed_at DESC LIMIT 1").Scan(&first, &firstAt))
	time.Sleep(1100 * time.Millisecond) // the next commit is a later millisecond than firstAt
	require.NoError(t, it.insert(ctx, hour, 20, 1))

	countAsOf := func(spec string) int64 {
		t.Helper()
		a, err := catalog.ParseAsOf(spec)
		require.NoError(t, err)
		tt, err := it.cat.AsOf(ctx, a)
		require.NoError(t, err)
		q, err := tt.Query(ctx, "SELECT count(*) FROM "+it.name)
		require.NoError(t, err)
		return it.count(t, q)
	}
	require.EqualValues(t, 30, countAsOf(fmt.Sprint(first)))
	require.EqualValues(t, 30, countAsOf(firstAt.UTC().Format(time.RFC3339Nano)))
	require.EqualValues(t, 50, it.count(t, "SELECT count(*) FROM "+it.cat.Qualified(it.name)))

	// A time before the table's first snapshot: the table did not exist.
	a, err := catalog.ParseAsOf(firstAt.Add(-time.Hour).UTC().Format(time.RFC3339))
	require.NoError(t, err)
	before, err := it.cat.AsOf(ctx, a)
	require.NoError(t, err)
	cols, err := before.Columns(ctx)
	require.NoError(t, err)
	require.Empty(t, cols)

	// host_breakdown, unchanged, as of the first snapshot and now.
	reports, err := reportsql.Load("")
	require.NoError(t, err)
	r := reports["host_breakdown"]
	values, err := r.Values(map[string]string{"start": hour.Format(time.RFC3339), "end": hour.Add(time.Hour).Format(time.RFC3339)}, time.Now())
	require.NoError(t, err)
	total := func(e report.Engine) int64 {
		t.Helper()
		res, err := report.Execute(ctx, e, r, values)
		require.NoError(t, err)
		var n int64
		for _, row := range res.Rows {
			n += row[2].(int64)
		}
		return n
	}
	a, err = catalog.ParseAsOf(fmt.Sprint(first))
	require.NoError(t, err)
	then, err := it.cat.AsOf(ctx, a)
	require.NoError(t, err)
	require.EqualValues(t, 30, total(then))
	require.EqualValues(t, 50, total(it.cat))

	// Hive tables and DuckDB keep no history.
	hive := newTrinoLake(t).open(t)
	_, err = hive.AsOf(ctx, a)
	require.ErrorIs(t, err, catalog.ErrTimeTravelNeedsIceberg)
	local, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	duck := openDuck(t, local)
	_, err = duck.AsOf(ctx, a)
	require.ErrorIs(t, err, catalog.ErrTimeTravelNeedsIceberg)
}
