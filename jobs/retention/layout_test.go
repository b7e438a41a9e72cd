package retention

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// Retention of a lake written year=/month=/day=/hour= deletes the expired
// hours' directories, across a year boundary, and unregisters exactly
// those partitions, in that layout.
func TestRetentionOnYearMonthDayHour(t *testing.T) {
	ctx := context.Background()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 1, 30, 0, 0, time.UTC)
	require.NoError(t, lake.SaveSchema(ctx, st, lake.TableSchema{Table: "session_start"}))
	var all []lake.Partition
	for h := 0; h < 6; h++ { // Dec 31, 20:00 to Jan 1, 01:00
		p := lake.YearMonthDayHour.PartitionOf("session_start", now.Add(time.Duration(h-5)*time.Hour))
		all = append(all, p)
		for off := int64(0); off < 3; off++ {
			require.NoError(t, st.Put(ctx, lake.ObjectKey(p, "events", 0, off), strings.NewReader("x"), 1))
		}
	}
	require.Equal(t, "session_start/year=2025/month=12/day=31/hour=20/", all[0].Prefix())

	cat := &recordingCatalog{dropped: map[string][]lake.Partition{}}
	j, err := New("retention", st, cat, 2*time.Hour, nil) // keeps hours that end after 23:30
	require.NoError(t, err)
	counts, err := j.Run(ctx, now)
	require.NoError(t, err)
	require.EqualValues(t, 3, counts["partitions"], "20:00, 21:00 and 22:00 on Dec 31")
	require.EqualValues(t, 9, counts["objects"])
	require.Equal(t, map[string][]lake.Partition{"session_start": all[:3]}, cat.dropped)
	left, err := lake.Partitions(ctx, st, "session_start")
	require.NoError(t, err)
	require.Equal(t, all[3:], left)
	for _, p := range all[:3] {
		objs, err := st.List(ctx, p.Prefix())
		require.NoError(t, err)
		require.Empty(t, objs, "no object of the expired hour %s is left", p)
	}
}
