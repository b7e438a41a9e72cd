package retention

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

type recordingCatalog struct {
	dropped map[string][]lake.Partition
	down    bool
}

func (r *recordingCatalog) DropPartitions(_ context.Context, table string, ps []lake.Partition) error {
	if r.down {
		return errors.New("trino is down")
	}
	r.dropped[table] = append(r.dropped[table], ps...)
	return nil
}

func TestRetentionDeletesOnlyExpiredPartitions(t *testing.T) {
	ctx := context.Background()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	now := time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)
	require.NoError(t, lake.SaveSchema(ctx, st, lake.TableSchema{Table: "a"}))
	put := func(p lake.Partition) {
		require.NoError(t, st.Put(ctx, lake.ObjectKey(p, "events", 0, 1), strings.NewReader("x"), 1))
	}
	old := lake.PartitionOf("a", now.Add(-50*time.Hour))
	edge := lake.PartitionOf("a", now.Add(-48*time.Hour)) // 10:00-11:00 two days ago: ends after the cutoff
	fresh := lake.PartitionOf("a", now)
	dead := lake.PartitionOf(lake.DeadLetterTable, now.Add(-72*time.Hour))
	for _, p := range []lake.Partition{old, edge, fresh, dead} {
		put(p)
	}

	// While the catalog cannot unregister them, nothing is deleted: a
	// registered partition without its files would fail queries.
	cat := &recordingCatalog{dropped: map[string][]lake.Partition{}, down: true}
	j, err := New("retention", st, cat, 48*time.Hour, nil)
	require.NoError(t, err)
	_, err = j.Run(ctx, now)
	require.ErrorContains(t, err, "trino is down")
	left, err := lake.Partitions(ctx, st, "a")
	require.NoError(t, err)
	require.ElementsMatch(t, []lake.Partition{old, edge, fresh}, left)

	cat.down = false
	counts, err := j.Run(ctx, now)
	require.NoError(t, err)
	require.EqualValues(t, 2, counts["partitions"])

	left, err = lake.Partitions(ctx, st, "a")
	require.NoError(t, err)
	require.ElementsMatch(t, []lake.Partition{edge, fresh}, left)
	left, err = lake.Partitions(ctx, st, lake.DeadLetterTable)
	require.NoError(t, err)
	require.Empty(t, left)
	require.Equal(t, map[string][]lake.Partition{"a": {old}, lake.DeadLetterTable: {dead}}, cat.dropped)

	_, err = New("r", st, nil, 0, nil)
	require.ErrorContains(t, err, "retention must be positive")
}
