//go:build integration

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/topics"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/retention"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestIcebergReaderDuringIngestCompactionRetentionE2E: a reader counts
// purchase_sword every 200 ms while the built silt ingest commits 20
// batches to Iceberg tables on the stack's metastore, while the Iceberg
// compact job OPTIMIZEs the hours ingest wrote, and while the retention
// job deletes them. The count never goes down before retention, never
// exceeds what was produced, equals it once ingest is done, and drops
// once, to zero, when retention deletes the hours in one commit.
func TestIcebergReaderDuringIngestCompactionRetentionE2E(t *testing.T) {
	ctx := t.Context()
	bin := stacktest.SiltBin(t)
	ep := stacktest.Get(t)
	if ep.MetastoreURI == "" || ep.TrinoMetastoreIcebergCatalog == "" {
		stacktest.Missing(t, "the stack runs no Hive Metastore with an Iceberg catalog (silt stack up --metastore)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	topic, schema := "ice-reader-"+id, "e2e_icereader_"+id
	const n = 20000
	require.NoError(t, topics.Ensure(ctx, ep.KafkaBrokers, []string{topic}, 2))
	produced := stacktest.Produce(t, ep.KafkaBrokers, topic, n, 17)["purchase_sword"]
	require.Positive(t, produced)

	cat, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: ep.TrinoMetastoreIcebergCatalog, Schema: schema, Location: ep.TrinoSchemaLocation,
	}}, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, cat.Close()) }()

	var retentionStarted atomic.Bool
	type sample struct {
		n         int64
		retention bool // retention had started when the count was read
	}
	var samples []sample
	var readerErr error
	readerCtx, stopReader := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for readerCtx.Err() == nil {
			var c int64
			err := cat.DB().QueryRowContext(readerCtx, "SELECT count(*) FROM "+cat.Qualified("purchase_sword")).Scan(&c)
			switch {
			case readerCtx.Err() != nil:
				return
			case err != nil && strings.Contains(err.Error(), "does not exist"):
				c = 0 // the first batch has not created the table yet
			case err != nil:
				readerErr = err
				return
			}
			samples = append(samples, sample{n: c, retention: retentionStarted.Load()})
			select {
			case <-readerCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	defer func() { stopReader(); wg.Wait() }()

	cmd := exec.CommandContext(ctx, bin, "ingest")
	cmd.Env = append(envWithout("SILT_"), ep.Env()...)
	cmd.Env = append(cmd.Env, "SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP=g-"+id, "SILT_S3_PREFIX="+schema,
		"SILT_TRINO_TABLE_FORMAT=iceberg", "SILT_TRINO_CATALOG="+ep.TrinoMetastoreIcebergCatalog, "SILT_TRINO_SCHEMA="+schema,
		"SILT_TRINO_ICEBERG_METASTORE_URI="+ep.MetastoreURI, "SILT_INGEST_TIMESTAMP_UNIT=micros", "SILT_INGEST_MAX_RECORDS=1000")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var ingested int64
	require.NoError(t, cat.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+cat.Qualified("purchase_sword")).Scan(&ingested), "%s", out)
	require.Equal(t, produced, ingested)

	later := time.Now().Add(4 * time.Hour) // every hour ingest wrote has ended by then
	job, err := compact.NewIceberg("compact", compact.IcebergOptions{
		Catalog:           func(context.Context) (compact.Rewriter, error) { return cat, nil },
		FileSizeThreshold: 64 << 20,
	})
	require.NoError(t, err)
	counts, err := job.Run(ctx, later)
	require.NoError(t, err)
	require.Positive(t, counts["partitions"], "ingest's hours had small files to merge")

	ret, err := retention.NewIceberg("retention", retention.IcebergOptions{
		Catalog:   func(context.Context) (retention.Expirer, error) { return cat, nil },
		Retention: time.Hour, SnapshotRetention: time.Hour, OrphanRetention: time.Hour,
	})
	require.NoError(t, err)
	retentionStarted.Store(true)
	_, err = ret.Run(ctx, later)
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond) // a last count after the delete
	stopReader()
	wg.Wait()
	require.NoError(t, readerErr)

	require.Greater(t, len(samples), 5)
	t.Logf("%d counts read; %d purchase_sword events produced", len(samples), produced)
	drops := 0
	for i, s := range samples {
		require.LessOrEqualf(t, s.n, produced, "sample %d: more rows than were produced", i)
		if i > 0 && s.n < samples[i-1].n {
			drops++
			require.Truef(t, s.retention, "sample %d: the count went down (%d after %d) before retention", i, s.n, samples[i-1].n)
			require.Equalf(t, produced, samples[i-1].n-s.n, "sample %d: retention's delete showed part of its rows gone", i)
		}
	}
	require.LessOrEqual(t, drops, 1)
	require.Zero(t, samples[len(samples)-1].n, "every hour expired")
}
