package retention

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/lake"
)

// On DuckDB, whose views read the files matching a pattern when queried,
// a table whose every partition expired still answers (no rows) after
// retention, and a table that keeps some answers exactly those.
func TestRetentionLeavesDuckDBViewsQueryable(t *testing.T) {
	ctx := t.Context()
	for _, layout := range lake.Layouts {
		t.Run(layout.String(), func(t *testing.T) {
			st, err := lake.NewLocal(t.TempDir())
			require.NoError(t, err)
			now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
			old := now.Add(-40 * 24 * time.Hour)
			var events []catalogtest.Event
			for i := range 10 {
				events = append(events,
					catalogtest.Event{Table: "log", Time: old.Add(time.Duration(i) * time.Minute), Fields: map[string]any{"host": "h", "level": "INFO", "message": "m"}},
					catalogtest.Event{Table: "join_guild", Time: old.Add(time.Duration(i) * time.Minute), Fields: map[string]any{"host": "h", "guild": "g"}})
			}
			for i := range 4 {
				events = append(events, catalogtest.Event{Table: "join_guild", Time: now.Add(-time.Duration(i) * time.Minute), Fields: map[string]any{"host": "h", "guild": "g"}})
			}
			changes, err := catalogtest.WriteLayout(ctx, st, layout, catalogtest.Schemas(), events, 0)
			require.NoError(t, err)
			cat, err := catalog.Open(ctx, catalog.Options{Kind: "duckdb", Layout: layout}, st)
			require.NoError(t, err)
			defer func() { require.NoError(t, cat.Close()) }()
			require.NoError(t, cat.Register(ctx, changes))
			count := func(table string) int64 {
				var n int64
				require.NoError(t, cat.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+cat.Qualified(table)).Scan(&n), table)
				return n
			}
			require.EqualValues(t, 10, count("log"))
			require.EqualValues(t, 14, count("join_guild"))

			j, err := New("retention", st, cat, 30*24*time.Hour, nil)
			require.NoError(t, err)
			counts, err := j.Run(ctx, now)
			require.NoError(t, err)
			require.EqualValues(t, 2, counts["partitions"], "the old hour of log and of join_guild")
			require.EqualValues(t, 0, count("log"), "every file of log is gone")
			require.EqualValues(t, 4, count("join_guild"))
		})
	}
}
