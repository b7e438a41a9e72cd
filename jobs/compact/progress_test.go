package compact

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// Progress counts the partitions due, then each one compacted, up to the
// total: every partition of every table whose hour ended an hour ago.
func TestCompactionProgressReachesTheTotal(t *testing.T) {
	cfg, st, _ := ingested(t, 3000)
	tables, err := lake.Tables(context.Background(), st)
	require.NoError(t, err)
	due := 0
	for _, table := range append(tables, lake.DeadLetterTable) {
		parts, err := lake.Partitions(context.Background(), st, table)
		require.NoError(t, err)
		for _, p := range parts {
			// Due once its hour ended an hour (the grace) ago: the events'
			// partitions are three hours old, the dead letters' are now.
			start, err := p.Start()
			require.NoError(t, err)
			if !start.Add(2 * time.Hour).After(time.Now()) {
				due++
			}
		}
	}
	require.Positive(t, due)

	var seen []Progress
	cfg.Progress = func(p Progress) { seen = append(seen, p) }
	counted, err := New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.Positive(t, counted["outputs"])
	require.Len(t, seen, due+1, "the total, then one report per partition")
	for i, p := range seen {
		require.Equal(t, Progress{Partitions: i, PartitionsTotal: due}, p)
	}
}
