package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/lake"
)

// RepairAllProgress reports the lake's tables and partitions as totals
// up front, then each table as it is registered, ending at the totals;
// the catalog then holds every partition it counted.
func TestRepairAllProgressReachesTotals(t *testing.T) {
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	events := catalogtest.Generate(2, 300, t0, 150*time.Minute)
	changes, err := catalogtest.Write(ctx, store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	wantPartitions := 0
	for _, ch := range changes {
		wantPartitions += len(ch.Partitions)
	}
	c, err := catalog.Open(ctx, duckConfig(t, store.Root()), store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()

	var seen []catalog.RepairProgress
	require.NoError(t, c.RepairAllProgress(ctx, store, func(p catalog.RepairProgress) { seen = append(seen, p) }))
	require.Len(t, seen, len(changes)+1, "the totals, then one report per table")
	first, last := seen[0], seen[len(seen)-1]
	require.Equal(t, catalog.RepairProgress{TablesTotal: len(changes), PartitionsTotal: wantPartitions}, first)
	require.Equal(t, catalog.RepairProgress{Tables: len(changes), TablesTotal: len(changes), Partitions: wantPartitions, PartitionsTotal: wantPartitions}, last)
	for i := 1; i < len(seen); i++ {
		require.Equal(t, seen[i-1].Tables+1, seen[i].Tables)
		require.Greater(t, seen[i].Partitions, seen[i-1].Partitions)
	}
	tables, err := c.Tables(ctx)
	require.NoError(t, err)
	registered := 0
	for _, ti := range tables {
		registered += len(ti.Partitions)
	}
	require.Equal(t, wantPartitions, registered)
}
