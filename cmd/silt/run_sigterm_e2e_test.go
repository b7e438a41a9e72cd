//go:build integration

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/gen"
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
	counts := produce(t, ep, topic, n)

	rng := rand.New(rand.NewPCG(5, 6))
	midBatch := 0
	for cycle := 1; cycle <= 8 && groupLag(t, ep, topic) > 0; cycle++ {
		d := startDaemon(t, dir, env, "--config", cfg)
		d.url(t)
		d.waitFor(t, "a first ingest run", 2*time.Minute, func() bool { return strings.Contains(d.output(), " ingest ") })
		time.Sleep(time.Duration(100+rng.IntN(1500)) * time.Millisecond) // a random point of the next batches
		d.stop(t)
		if strings.Contains(d.output(), "waiting for 1 running jobs") {
			midBatch++
		}
		t.Logf("cycle %d: lag %d after SIGTERM", cycle, groupLag(t, ep, topic))
	}
	require.Positive(t, midBatch, "no SIGTERM landed during a batch")

	// What the lake holds now, then one more daemon that drains the rest.
	before := checkLake(t, store)
	d := startDaemon(t, dir, env, "--config", cfg)
	url := d.url(t)
	d.waitFor(t, "the topic drained", 5*time.Minute, func() bool { return groupLag(t, ep, topic) == 0 })
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

// produce publishes n synthetic events and returns the count per type.
func produce(t *testing.T, ep *stack.Endpoints, topic string, n int) map[string]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	g := gen.NewEvents(9, nil, nil)
	counts := map[string]int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < n; i++ {
		ev := g.Next(nil, start.Add(time.Duration(i)*17*time.Millisecond))
		counts[ev.Type]++
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: ev.JSON}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, firstErr)
	return counts
}

// groupLag is the consumer group's total lag on topic.
func groupLag(t *testing.T, ep *stack.Endpoints, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	require.NoError(t, err)
	// A fresh broker answers COORDINATOR_NOT_AVAILABLE until its offsets
	// topic exists: retry that a while.
	var committed kadm.OffsetResponses
	for attempt := 0; ; attempt++ {
		committed, err = adm.FetchOffsets(context.Background(), topic)
		if err == nil || attempt == 60 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.NoError(t, err)
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At < 0 {
			lag += o.Offset
			return
		}
		lag += o.Offset - c.At
	})
	return lag
}
