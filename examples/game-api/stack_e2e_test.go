//go:build integration

package gameapi_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestGameAPIExampleOnStackE2E is the example on the native stack (silt
// stack up): the same silt.yaml with the stack's environment (its Kafka,
// MinIO, Trino), the same requests, the same host breakdown, and the
// trino CLI (the original's Presto) seeing the per-type tables.
func TestGameAPIExampleOnStackE2E(t *testing.T) {
	e := stacktest.Get(t)
	dir := copyExample(t)
	run := fmt.Sprintf("game%d", time.Now().UnixNano())
	env := siltrun.Env(append(e.Env(),
		"SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0",
		"SILT_KAFKA_TOPICS="+run, "SILT_COLLECT_TOPIC="+run, "SILT_KAFKA_GROUP="+run,
		"SILT_S3_PREFIX="+run, "SILT_TRINO_SCHEMA="+run)...)
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	base := d.CollectorURL(t)
	want := sendGameRequests(t, base)
	// A lake on S3 keeps its reports beside the working directory.
	waitForCSV(t, d, filepath.Join(dir, "silt-data", "reports", "game_host_breakdown", "latest.csv"), want)
	d.Stop(t)
	require.NotContains(t, d.Output(), "EMBEDDED", "the stack's Kafka, not the embedded broker")

	q := `SELECT 'purchase_sword', host, count(*) FROM purchase_sword GROUP BY host
	      UNION ALL SELECT 'join_guild', host, count(*) FROM join_guild GROUP BY host
	      UNION ALL SELECT 'default', host, count(*) FROM "default" GROUP BY host ORDER BY 1, 2`
	cmd := e.TrinoCommand(t.Context(), "--catalog", e.TrinoCatalog, "--schema", run, "--output-format", "TSV", "--execute", q)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	perTable := map[string]int{}
	for _, r := range gameRequests {
		typ := map[string]string{"/": "default", "/purchase_a_sword": "purchase_sword", "/join_the_guild": "join_guild"}[r.path]
		perTable[typ+"\t"+r.host] += r.n
	}
	var wantLines []string
	for k, n := range perTable {
		wantLines = append(wantLines, fmt.Sprintf("%s\t%d", k, n))
	}
	gotLines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.ElementsMatch(t, wantLines, gotLines, "the trino CLI's counts per table and host")
}
