//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/topics"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestRunE2EBrokersFromEnvironmentWinOverEmbedded is the production-lake
// bug: `silt run` without a config file, with SILT_KAFKA_BROKERS naming a
// real Kafka (as `silt stack up`'s export lines do), must drain that Kafka,
// and must neither start the embedded broker nor generate demo events into
// the lake. Before the fix it did both, replacing the brokers.
func TestRunE2EBrokersFromEnvironmentWinOverEmbedded(t *testing.T) {
	e := stacktest.Get(t)
	dir := t.TempDir()
	topic := fmt.Sprintf("env-brokers-%d", time.Now().UnixNano())
	const n = 600
	require.NoError(t, topics.Ensure(t.Context(), e.KafkaBrokers, []string{topic}, 3))
	produced := stacktest.Produce(t, e.KafkaBrokers, topic, n, 11)

	env := append(envWithout("SILT_"),
		"SILT_KAFKA_BROKERS="+e.KafkaBrokers[0], "SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP="+topic,
		"SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, dir, env)
	root := filepath.Join(dir, "silt-data")
	d.WaitFor(t, fmt.Sprintf("%d rows in the lake", n), 2*time.Minute, func() bool {
		r, err := lakecheck.Check(context.Background(), root)
		return err == nil && r.Total >= n
	})
	// A few more ingest runs: a generator, had one started, would keep adding.
	d.WaitIngestRuns(t, 3)
	d.Stop(t)

	rep, err := lakecheck.Check(context.Background(), root)
	require.NoError(t, err)
	require.EqualValues(t, n, rep.Total, "exactly the produced events, no synthetic ones: %v", rep.Rows)
	require.Zero(t, rep.Duplicates)
	for typ, want := range produced {
		require.Equal(t, want, rep.Rows[typ], "table %s", typ)
	}
	require.NotContains(t, d.Output(), "EMBEDDED")
	require.NotContains(t, d.Output(), "embedded Kafka broker")
	require.NotContains(t, d.Output(), "collector http://", "the demo's collector is not started against a real Kafka")
	_, err = os.Stat(filepath.Join(root, "_kafka"))
	require.True(t, os.IsNotExist(err), "no embedded broker data dir in the lake")
}
