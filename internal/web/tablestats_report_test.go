package web

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// The tables view says which tables store a report's output (their
// schema's mark), so they are not read as event types.
func TestTableStatsNameTheReportOwningATable(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cols := []lake.Column{{Name: "host", Type: lake.TypeVarchar}}
	_, err = lake.AddColumns(ctx, store, "login", cols)
	require.NoError(t, err)
	_, err = lake.AddReportColumns(ctx, store, "logins_per_host", "logins_job", cols)
	require.NoError(t, err)

	stats := &LakeTableStats{Store: store}
	got, err := stats.TableStats(ctx)
	require.NoError(t, err)
	report := map[string]string{}
	for _, ts := range got {
		report[ts.Name] = ts.Report
	}
	require.Equal(t, map[string]string{"login": "", "logins_per_host": "logins_job"}, report)

	srv := httptest.NewServer(New(Options{TableStats: stats}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/tables")
	require.NoError(t, err)
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(page), `report logins_job</span>`)
}
