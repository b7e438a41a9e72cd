//go:build integration

package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestQueryAndReportAsOfE2E: silt query and silt report --as-of the first
// batch's snapshot see that batch's rows only, on an Iceberg table of the
// stack; without --as-of both batches; on the Hive catalog --as-of is
// refused with the reason.
func TestQueryAndReportAsOfE2E(t *testing.T) {
	ctx := t.Context()
	bin := stacktest.SiltBin(t)
	ep := stacktest.Get(t)
	iceberg := ep.TrinoMetastoreIcebergCatalog
	if iceberg == "" {
		iceberg = ep.TrinoIcebergCatalog
	}
	if iceberg == "" {
		stacktest.Missing(t, "the stack runs no Trino Iceberg catalog")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "e2e_asof_" + hex.EncodeToString(b)
	cat, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: iceberg, Schema: schema, Location: ep.TrinoSchemaLocation + schema + "/",
	}}, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, cat.Close()) }()
	_, err = cat.DB().ExecContext(ctx, "CREATE TABLE "+cat.Qualified("visit")+" (host varchar, event_time timestamp(6)) WITH (partitioning = ARRAY['hour(event_time)'])")
	require.NoError(t, err)
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	insert := func(host string, n int) {
		t.Helper()
		vals := make([]string, n)
		for i := range vals {
			vals[i] = fmt.Sprintf("('%s', TIMESTAMP '%s')", host, hour.Add(time.Duration(i)*time.Second).Format("2006-01-02 15:04:05"))
		}
		_, err := cat.DB().ExecContext(ctx, "INSERT INTO "+cat.Qualified("visit")+" VALUES "+strings.Join(vals, ", "))
		require.NoError(t, err)
	}
	insert("web-1", 7)
	var first int64
	require.NoError(t, cat.DB().QueryRowContext(ctx, `SELECT snapshot_id FROM `+catalog.Quote(iceberg)+"."+catalog.Quote(schema)+`."visit$snapshots" ORDER BY committed_at DESC LIMIT 1`).Scan(&first))
	insert("web-2", 5)

	silt := func(catalogName string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), ep.Env()...)
		cmd.Env = append(cmd.Env, "SILT_TRINO_CATALOG="+catalogName, "SILT_TRINO_SCHEMA="+schema)
		out, err := cmd.CombinedOutput()
		return strings.ReplaceAll(string(out), "\r\n", "\n"), err // CSV lines end in CRLF
	}
	out, err := silt(iceberg, "query", "SELECT count(*) AS n FROM visit", "--format", "csv", "--as-of", fmt.Sprint(first))
	require.NoError(t, err, out)
	require.Equal(t, "n\n7\n", out)
	out, err = silt(iceberg, "query", "SELECT count(*) AS n FROM visit", "--format", "csv")
	require.NoError(t, err, out)
	require.Equal(t, "n\n12\n", out)

	window := []string{"--param", "start=" + hour.Format(time.RFC3339), "--param", "end=" + hour.Add(time.Hour).Format(time.RFC3339)}
	out, err = silt(iceberg, append([]string{"report", "host_breakdown", "--as-of", fmt.Sprint(first)}, window...)...)
	require.NoError(t, err, out)
	require.Equal(t, "host,event_type,events\nweb-1,visit,7\n", out)
	out, err = silt(iceberg, append([]string{"report", "host_breakdown"}, window...)...)
	require.NoError(t, err, out)
	require.Equal(t, "host,event_type,events\nweb-1,visit,7\nweb-2,visit,5\n", out)

	out, err = silt(ep.TrinoCatalog, "query", "SELECT 1", "--as-of", fmt.Sprint(first))
	require.Error(t, err)
	require.Contains(t, out, "time travel needs table_format iceberg")
}
