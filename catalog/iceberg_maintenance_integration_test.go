//go:build integration

package catalog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/retention"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// icebergTable is an Iceberg table of its own schema in the stack's
// Iceberg catalog, partitioned by hour(event_time) as silt's are, opened
// through a silt catalog.
type icebergTable struct {
	cat   *catalog.Catalog
	name  string
	files string // the $files metadata table, qualified
	snaps string // the $snapshots metadata table, qualified
}

// icebergCatalogOf is the stack's Iceberg catalog on the Hive Metastore
// (what silt commits to) when it runs one, else its file-metastore one.
func icebergCatalogOf(t *testing.T, ep *stack.Endpoints) string {
	t.Helper()
	if ep.TrinoMetastoreIcebergCatalog != "" {
		return ep.TrinoMetastoreIcebergCatalog
	}
	if ep.TrinoIcebergCatalog == "" {
		stacktest.Missing(t, "the stack runs no Trino Iceberg catalog (trino_iceberg_catalog)")
	}
	return ep.TrinoIcebergCatalog
}

func newIcebergTable(t *testing.T, prefix string) *icebergTable {
	t.Helper()
	ep := stacktest.Get(t)
	iceberg := icebergCatalogOf(t, ep)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	cat, err := catalog.Open(t.Context(), catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: iceberg, Schema: schema, Location: ep.TrinoSchemaLocation + schema + "/",
	}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.Close()) })
	it := &icebergTable{cat: cat, name: "ev"}
	q := func(s string) string {
		return catalog.Quote(iceberg) + "." + catalog.Quote(schema) + "." + catalog.Quote(s)
	}
	it.files, it.snaps = q("ev$files"), q("ev$snapshots")
	_, err = cat.DB().ExecContext(t.Context(), fmt.Sprintf(
		"CREATE TABLE %s (host varchar, event_time timestamp(6)) WITH (format = 'PARQUET', format_version = 2, partitioning = ARRAY['hour(event_time)'])",
		cat.Qualified(it.name)))
	require.NoError(t, err)
	return it
}

// insert commits rows events of hour, one Iceberg commit, as an ingest
// batch does.
func (it *icebergTable) insert(ctx context.Context, hour time.Time, rows, seq int) error {
	vals := make([]string, rows)
	for i := range rows {
		at := hour.Add(time.Duration(seq*rows+i) * time.Second % time.Hour)
		vals[i] = fmt.Sprintf("('host-%d', TIMESTAMP '%s')", i%3, at.Format("2006-01-02 15:04:05"))
	}
	_, err := it.cat.DB().ExecContext(ctx, fmt.Sprintf("INSERT INTO %s VALUES %s", it.cat.Qualified(it.name), strings.Join(vals, ", ")))
	return err
}

func (it *icebergTable) count(t *testing.T, q string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, it.cat.DB().QueryRowContext(t.Context(), q).Scan(&n), q)
	return n
}

// sample is one count a reader saw, with what had been committed when
// its query started and what had been started (committed or in flight)
// when it ended.
type sample struct {
	n, doneBefore, startedAfter int64
	deleteDoneBefore            bool // the retention DELETE had returned when the query started
	deleteStartedAfter          bool // … had been started when the query returned
}

// TestIcebergReaderSeesNoRowTwiceOrMissingIntegration: a reader counts
// the table every 200 ms while batches are committed, while the
// compaction job rewrites the hours that ended (concurrently with more
// batches of the current hour), and while the retention job deletes the
// two oldest hours and expires snapshots and orphan files. Every count must
// lie between what was committed when it started and what had been
// started when it ended (never a row twice, never one missing), counts
// never go down except once, by exactly the expired hours' rows (the
// DELETE is one commit), and the end count is what was produced less
// those hours.
func TestIcebergReaderSeesNoRowTwiceOrMissingIntegration(t *testing.T) {
	ctx := t.Context()
	it := newIcebergTable(t, "it_iceops_")
	now := time.Now().UTC()
	oldest := now.Truncate(time.Hour).Add(-5 * time.Hour)
	hours := []time.Time{oldest, oldest.Add(time.Hour), oldest.Add(2 * time.Hour)}
	current := now.Truncate(time.Hour)
	const rowsPerBatch, batchesPerHour = 50, 4

	var done, started atomic.Int64
	var deleteStarted, deleteDone atomic.Bool
	commit := func(hour time.Time, seq int) error {
		started.Add(rowsPerBatch)
		// An INSERT that lost the race with a concurrent OPTIMIZE was
		// refused by the metastore ("The table has been modified"):
		// nothing was committed, so it is sent again, as silt's own
		// commits are.
		var err error
		for range 10 {
			if err = it.insert(ctx, hour, rowsPerBatch, seq); err == nil || !strings.Contains(err.Error(), "The table has been modified") {
				break
			}
		}
		if err != nil {
			return err
		}
		done.Add(rowsPerBatch)
		return nil
	}

	readerCtx, stopReader := context.WithCancel(ctx)
	var samples []sample
	var readerErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			s := sample{doneBefore: done.Load(), deleteDoneBefore: deleteDone.Load()}
			err := it.cat.DB().QueryRowContext(readerCtx, "SELECT count(*) FROM "+it.cat.Qualified(it.name)).Scan(&s.n)
			if readerCtx.Err() != nil {
				return
			}
			if err != nil {
				readerErr = err
				return
			}
			s.startedAfter, s.deleteStartedAfter = started.Load(), deleteStarted.Load()
			samples = append(samples, s)
			select {
			case <-readerCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	defer func() { stopReader(); wg.Wait() }()

	// Ingest: the hours that ended, each in several small files.
	for seq := range batchesPerHour {
		for _, h := range hours {
			require.NoError(t, commit(h, seq))
		}
	}
	filesBefore := it.count(t, "SELECT count(*) FROM "+it.files)
	require.EqualValues(t, len(hours)*batchesPerHour, filesBefore)

	// Compaction of the ended hours while batches of the current hour go on.
	job, err := compact.NewIceberg("compact", compact.IcebergOptions{
		Catalog:           func(context.Context) (compact.Rewriter, error) { return it.cat, nil },
		FileSizeThreshold: 32 << 20,
	})
	require.NoError(t, err)
	var ingestErr error
	var ingest sync.WaitGroup
	ingest.Go(func() {
		for seq := range batchesPerHour {
			if ingestErr = commit(current, seq); ingestErr != nil {
				return
			}
		}
	})
	counts, err := job.Run(ctx, now)
	ingest.Wait()
	require.NoError(t, err)
	require.NoError(t, ingestErr)
	require.EqualValues(t, len(hours), counts["partitions"], "every ended hour had small files")
	// assert, not require: the reader's counts are checked below either way.
	assert.EqualValues(t, len(hours)+batchesPerHour, it.count(t, "SELECT count(*) FROM "+it.files), "one file per ended hour, the current hour's untouched")
	assert.EqualValues(t, len(hours), it.count(t, "SELECT count(*) FROM "+it.snaps+" WHERE operation = 'replace'"), "one rewrite commit per hour")
	again, err := job.Run(ctx, now)
	require.NoError(t, err)
	assert.Zero(t, again["partitions"], "a compacted hour is not rewritten again")

	// Retention: the two oldest hours go, in one DELETE.
	snapshotsBefore := it.count(t, "SELECT count(*) FROM "+it.snaps)
	ret, err := retention.NewIceberg("retention", retention.IcebergOptions{
		Catalog:           func(context.Context) (retention.Expirer, error) { return it.cat, nil },
		Retention:         time.Hour,
		SnapshotRetention: time.Second,
		OrphanRetention:   time.Hour,
	})
	require.NoError(t, err)
	expired := int64(2 * rowsPerBatch * batchesPerHour) // two hours: their DELETE must still be one step
	time.Sleep(1100 * time.Millisecond)                 // every snapshot so far is older than SnapshotRetention
	deleteStarted.Store(true)
	rc, err := ret.Run(ctx, hours[2].Add(time.Hour)) // cutoff: hours[2], so hours[0] and hours[1] ended before it
	deleteDone.Store(true)
	require.NoError(t, err)
	require.EqualValues(t, 1, rc["tables"])
	// Let the reader see the result before it stops.
	time.Sleep(500 * time.Millisecond)
	stopReader()
	wg.Wait()
	require.NoError(t, readerErr)

	final := it.count(t, "SELECT count(*) FROM "+it.cat.Qualified(it.name))
	require.Equal(t, done.Load()-expired, final)
	require.Zero(t, it.count(t, fmt.Sprintf("SELECT count(*) FROM %s WHERE event_time < TIMESTAMP '%s'", it.cat.Qualified(it.name), hours[2].Format("2006-01-02 15:04:05"))))
	assert.Less(t, it.count(t, "SELECT count(*) FROM "+it.snaps), snapshotsBefore, "expire_snapshots removed the old snapshots")
	assert.EqualValues(t, 0, it.count(t, "SELECT count(*) FROM "+it.snaps+" WHERE operation = 'delete' AND summary['total-position-deletes'] <> '0'"), "the DELETE dropped whole files")

	require.Greater(t, len(samples), 5, "the reader ran throughout")
	t.Logf("%d counts read; committed %d rows, expired %d", len(samples), done.Load(), expired)
	drops := 0
	for i, s := range samples {
		lower, upper := s.doneBefore, s.startedAfter
		if s.deleteDoneBefore {
			lower -= expired
		}
		if s.deleteStartedAfter {
			lower = min(lower, s.doneBefore-expired)
		}
		if s.deleteDoneBefore {
			upper -= expired
		}
		require.GreaterOrEqualf(t, s.n, lower, "sample %d: rows missing: %+v", i, s)
		require.LessOrEqualf(t, s.n, upper, "sample %d: rows seen twice: %+v", i, s)
		if i > 0 && s.n < samples[i-1].n {
			drops++
			require.Equalf(t, expired, samples[i-1].n-s.n, "sample %d: the count went down other than by the expired hours at once: %+v after %+v", i, s, samples[i-1])
			require.True(t, s.deleteStartedAfter, "sample %d: the count went down before retention", i)
		}
	}
	require.LessOrEqual(t, drops, 1, "retention's delete is one step")
	require.Equal(t, final, samples[len(samples)-1].n)
}

// TestIcebergOrphanRemovalKeepsYoungAndOutsideFilesIntegration: with the
// threshold at 20 s, remove_orphan_files deletes an unreferenced file
// under the table's location older than that, keeps a younger one (a
// commit in flight: what the threshold protects), and never looks outside
// the table's location, where silt's own objects live (an old object
// there stays).
func TestIcebergOrphanRemovalKeepsYoungAndOutsideFilesIntegration(t *testing.T) {
	ctx := t.Context()
	it := newIcebergTable(t, "it_iceorph_")
	hour := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	require.NoError(t, it.insert(ctx, hour, 10, 0))
	var path string
	require.NoError(t, it.cat.DB().QueryRowContext(ctx, `SELECT "$path" FROM `+it.cat.Qualified(it.name)+" LIMIT 1").Scan(&path))
	ep := stacktest.Get(t)
	store, err := lake.NewS3(ctx, lake.S3Options{Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true})
	require.NoError(t, err)
	bucketURI := "s3://" + ep.S3Bucket + "/"
	require.True(t, strings.HasPrefix(path, bucketURI), path)
	dataFile := strings.TrimPrefix(path, bucketURI)
	dir := dataFile[:strings.LastIndex(dataFile, "/")+1]
	schemaDir := dataFile[:strings.Index(dataFile, "/")+1]
	put := func(key string) {
		t.Helper()
		body := []byte("not referenced by any snapshot")
		require.NoError(t, store.Put(ctx, key, bytes.NewReader(body), int64(len(body))))
	}
	oldOrphan, outside, youngOrphan := dir+"old-orphan.parquet", schemaDir+"ev/dt=2026-01-01/hour=00/events-p0-0.parquet", dir+"young-orphan.parquet"
	put(oldOrphan)
	put(outside)
	time.Sleep(22 * time.Second) // older than the threshold
	put(youngOrphan)
	require.NoError(t, it.cat.RemoveOrphanFiles(ctx, it.name, 20*time.Second))

	exists := func(key string) bool {
		_, err := store.Stat(ctx, key)
		if errors.Is(err, lake.ErrNotExist) {
			return false
		}
		require.NoError(t, err)
		return true
	}
	require.False(t, exists(oldOrphan), "an old unreferenced file under the table's location is removed")
	require.True(t, exists(youngOrphan), "a file younger than the threshold stays")
	require.True(t, exists(outside), "nothing outside the table's location is touched")
	require.True(t, exists(dataFile), "referenced data stays")
	require.EqualValues(t, 10, it.count(t, "SELECT count(*) FROM "+it.cat.Qualified(it.name)))
}
