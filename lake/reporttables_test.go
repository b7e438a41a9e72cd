package lake

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A report job's schema commit marks its table; ingest's later commits
// keep the mark, a second report job does not take it over, and no change
// may clear it.
func TestAddReportColumnsMarksTheTableForGood(t *testing.T) {
	ctx := t.Context()
	st, err := NewLocal(t.TempDir())
	require.NoError(t, err)
	cols := []Column{{Name: "window_start", Type: TypeTimestamp}}

	s, err := AddReportColumns(ctx, st, "counts", "counts_job", cols)
	require.NoError(t, err)
	require.Equal(t, "counts_job", s.Report)

	s, err = AddColumns(ctx, st, "counts", []Column{{Name: "extra", Type: TypeBigint}})
	require.NoError(t, err)
	require.Equal(t, "counts_job", s.Report, "a plain column commit keeps the mark")

	s, err = AddReportColumns(ctx, st, "counts", "other_job", cols)
	require.NoError(t, err)
	require.Equal(t, "counts_job", s.Report, "the first report job's mark stays")

	_, err = UpdateSchema(ctx, st, "counts", func(committed TableSchema) (TableSchema, error) {
		committed.Report = ""
		return committed, nil
	})
	require.ErrorContains(t, err, "may not unmark")

	// An existing unmarked table gets marked even when no column is new:
	// a report table written before silt marked them.
	_, err = AddColumns(ctx, st, "older", cols)
	require.NoError(t, err)
	s, err = AddReportColumns(ctx, st, "older", "older_job", cols)
	require.NoError(t, err)
	require.Equal(t, "older_job", s.Report)
	s, _, err = LoadSchema(ctx, st, "older")
	require.NoError(t, err)
	require.Equal(t, "older_job", s.Report, "the mark is committed, not only returned")
}

// ReportTables finds the marked tables among those asked about, and
// reads an unmarked table's schema again only after unmarkedRecheck.
func TestReportTablesReadsMarksAndRechecksUnmarkedTables(t *testing.T) {
	ctx := t.Context()
	st, err := NewLocal(t.TempDir())
	require.NoError(t, err)
	cols := []Column{{Name: "host", Type: TypeVarchar}}
	_, err = AddColumns(ctx, st, "login", cols)
	require.NoError(t, err)
	_, err = AddReportColumns(ctx, st, "logins_per_host", "logins_job", cols)
	require.NoError(t, err)
	_, err = AddColumns(ctx, st, "old_report", cols)
	require.NoError(t, err)

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rt := NewReportTables(st)
	rt.now = func() time.Time { return now }
	names := []string{"login", "logins_per_host", "old_report", "no_schema", DeadLetterTable}
	got, err := rt.Of(ctx, names)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"logins_per_host": true}, got)

	// old_report's job runs again and marks it.
	_, err = AddReportColumns(ctx, st, "old_report", "old_job", cols)
	require.NoError(t, err)
	got, err = rt.Of(ctx, names)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"logins_per_host": true}, got, "an unmarked table is not read again before unmarkedRecheck")

	now = now.Add(unmarkedRecheck)
	got, err = rt.Of(ctx, names)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"logins_per_host": true, "old_report": true}, got)

	var none *ReportTables
	got, err = none.Of(ctx, names)
	require.NoError(t, err)
	require.Empty(t, got, "without a lake every table is an event type")
}
