//go:build integration

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/lakecheck"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/internal/stack/stacktest"
	"github.com/silt-etl/silt/lake"
)

// TestRunE2ESigtermUnderLoadExactlyOnce stops `silt run` with SIGTERM
// again and again while ingest batches run against real Kafka and MinIO;
// every stop must exit 0, and in the end the lake holds every event
// exactly once. The last daemon's /metrics must count exactly the rows it
// added to the lake.
func TestRunE2ESigtermUnderLoadExactlyOnce(t *testing.T) {
	const n = 150_000
	ep := stacktest.Get(t)
	ctx := context.Background()
	topic := fmt.Sprintf("run-sigterm-%d", time.Now().UnixNano()%1e9)
	createTopic(t, ep, topic, 4)
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: topic, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "silt.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`log:
  format: json
jobs:
  - name: ingest
    kind: ingest
    schedule: "@every 1s"
    retries: 2
    retry_delay: 500ms
`), 0o644))
	env := append(envWithout("SILT_"), ep.Env()...)
	env = append(env,
		"SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP="+topic, "SILT_S3_PREFIX="+topic,
		"SILT_KAFKA_SESSION_TIMEOUT=6s", "SILT_TRINO_SCHEMA="+strings.ReplaceAll(topic, "-", "_"),
		"SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_TRINO_LOCATION=s3://"+ep.S3Bucket+"/"+topic+"/",
		// Small batches: many commit points for the signals to land between and in.
		"SILT_INGEST_MAX_RECORDS=6000", "SILT_INGEST_TARGET_FILE_BYTES=1MB",
	)
	counts := stacktest.Produce(t, ep.KafkaBrokers, topic, n, 9)

	rng := rand.New(rand.NewPCG(5, 6))
	midBatch := 0
	for cycle := 1; cycle <= 8 && stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic) > 0; cycle++ {
		d := startDaemon(t, dir, env, "--config", cfg)
		d.url(t)
		d.waitFor(t, "a first ingest run", 2*time.Minute, func() bool { return strings.Contains(d.output(), " ingest ") })
		time.Sleep(time.Duration(100+rng.IntN(1500)) * time.Millisecond) // a random point of the next batches
		d.stop(t)
		if strings.Contains(d.output(), "waiting for 1 running jobs") {
			midBatch++
		}
		t.Logf("cycle %d: lag %d after SIGTERM", cycle, stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic))
	}
	require.Positive(t, midBatch, "no SIGTERM landed during a batch")

	// What the lake holds now, then one more daemon that drains the rest.
	before := checkLake(t, store)
	d := startDaemon(t, dir, env, "--config", cfg)
	url := d.url(t)
	d.waitFor(t, "the topic drained", 5*time.Minute, func() bool { return stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic) == 0 })
	var written float64
	d.waitFor(t, "rows metric equal to the rows added", time.Minute, func() bool {
		page := httpGet(t, url+"metrics")
		written = metricSum(t, page, "silt_ingest_rows_total") + metricSum(t, page, "silt_ingest_dead_letters_total")
		return int64(written) >= n-before.Total
	})
	d.stop(t)

	after := checkLake(t, store)
	require.Zero(t, after.Duplicates, "rows with a (topic, partition, offset) seen before")
	require.Equal(t, int64(n), after.Distinct)
	require.Equal(t, int64(n), after.Total)
	for typ, c := range counts {
		require.Equal(t, c, after.Rows[typ], "rows of %s", typ)
	}
	require.Equal(t, after.Total-before.Total, int64(written), "metrics count the rows the last daemon wrote")
	t.Logf("%d SIGTERMs mid-batch; lake %d rows, last daemon wrote %d", midBatch, after.Total, int64(written))
}

func checkLake(t *testing.T, store lake.Store) *lakecheck.Report {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, lakecheck.Download(context.Background(), store, "", dir))
	rep, err := lakecheck.Check(context.Background(), dir)
	require.NoError(t, err)
	return rep
}

func createTopic(t *testing.T, ep *stack.Endpoints, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic)
	require.NoError(t, err)
}
