package deadletters

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// Dead letters of a lake written year=/month=/day=/hour= read like any
// others, and --since prunes on those directories.
func TestReadDeadLettersOnYearMonthDayHour(t *testing.T) {
	store, bad := ingestedLakeIn(t, lake.YearMonthDayHour)
	ctx := context.Background()
	objs, err := store.List(ctx, lake.TablePrefix(lake.DeadLetterTable))
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	for _, o := range objs {
		require.True(t, strings.HasPrefix(o.Key, "_dead_letter/year="), o.Key)
	}
	r := NewReader(store, "")
	defer func() { _ = r.Close() }()
	all, err := r.Read(ctx, Filter{})
	require.NoError(t, err)
	require.EqualValues(t, len(bad), all.Total)
	require.Equal(t, []KindCount{{"not_json", 3}, {"bad_event_type", 1}, {"not_object", 1}, {"type_conflict", 1}}, all.ByKind)
	recent, err := r.Read(ctx, Filter{Since: today})
	require.NoError(t, err)
	require.EqualValues(t, 4, recent.Total)
}
