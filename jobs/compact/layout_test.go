package compact

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// Compaction of a lake written year=/month=/day=/hour= merges each
// partition's objects into outputs in the same directory: every object
// stays under its layout, and every row is there once.
func TestCompactionKeepsTheYearMonthDayHourLayout(t *testing.T) {
	ctx := context.Background()
	cfg, st, counts := ingestedIn(t, 3000, lake.YearMonthDayHour)
	before := parquetCount(t, st)
	require.Greater(t, before, 20, "ingest wrote many small objects")

	counted, err := New("compact", cfg, st).Run(ctx, time.Now())
	require.NoError(t, err)
	require.Positive(t, counted["outputs"])
	after := parquetCount(t, st)
	require.Less(t, after, before/3, "objects before %d, after %d", before, after)

	objs, err := st.List(ctx, "")
	require.NoError(t, err)
	compacted := 0
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		p, ok := lake.ParsePartitionPrefix(o.Key)
		require.True(t, ok, o.Key)
		require.Equal(t, lake.YearMonthDayHour, p.Layout, o.Key)
		require.True(t, strings.HasPrefix(o.Key, p.Prefix()), o.Key)
		if strings.Contains(o.Key, "/compacted-") {
			compacted++
		}
	}
	require.EqualValues(t, counted["outputs"], compacted)
	rep, err := lakecheck.Check(ctx, st.Root())
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	for table, n := range counts {
		require.Equal(t, n, rep.Rows[table], table)
	}
}
