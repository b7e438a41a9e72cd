//go:build integration

package iceberg_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "github.com/trinodb/trino-go-client/trino"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/iceberg"
	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// ingestedLake is a lake on the stack's MinIO under a prefix of its own,
// holding one batch silt's ingest wrote (microsecond timestamps, as with
// table_format iceberg) and no Iceberg table yet; more ingests the rest of
// the events in several more batches.
func ingestedLake(t *testing.T, events int) (store lake.Store, opts iceberg.Options, more func() []catalog.Change) {
	t.Helper()
	ep := stacktest.Get(t)
	if ep.MetastoreURI == "" || ep.TrinoMetastoreIcebergCatalog == "" {
		stacktest.Missing(t, "the stack has no Hive Metastore with an Iceberg catalog: silt stack up --metastore")
	}
	ctx := t.Context()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "icecommit" + hex.EncodeToString(b)
	s3, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: name, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)

	broker, err := embedded.StartBroker(0, "", []string{"events"}, 4)
	require.NoError(t, err)
	t.Cleanup(broker.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addrs()...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	require.NoError(t, err)
	g := gen.NewEvents(7, nil, nil)
	at := time.Now().UTC()
	var recs []*kgo.Record
	for i := range events {
		recs = append(recs, &kgo.Record{Value: g.Next(nil, at.Add(time.Duration(i)*time.Second)).JSON})
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	cl.Close()

	ingestOpts := ingest.DefaultOptions()
	ingestOpts.Kafka.Brokers = broker.Addrs()
	ingestOpts.TimestampUnit = lake.Micros
	ingestOpts.SpoolDir = t.TempDir()
	ingestOpts.MaxRecords = events / 8 // several batches
	rec := &recordingRegistrar{}
	ingestOpts.Registrar = rec
	job := ingest.New(ingestOpts, s3)
	t.Cleanup(job.Close)
	total := int64(0)
	batch := func() {
		st, err := job.RunBatch(ctx)
		require.NoError(t, err)
		require.NotZero(t, st.Events, "ingest stalled at %d of %d", total, events)
		total += st.Events
	}
	batch()
	more = func() []catalog.Change {
		for total < int64(events) {
			batch()
		}
		return rec.changes
	}
	return s3, iceberg.Options{
		MetastoreURI: ep.MetastoreURI, Namespace: name, Location: s3.URI(""),
		S3: iceberg.S3Options{Endpoint: ep.S3Endpoint, Region: ep.S3Region, AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey},
	}, more
}

// recordingRegistrar keeps what ingest hands the catalog after each
// batch, for the committers to commit later.
type recordingRegistrar struct{ changes []catalog.Change }

func (r *recordingRegistrar) Register(_ context.Context, changes []catalog.Change) error {
	r.changes = append(r.changes, changes...)
	return nil
}

func (r *recordingRegistrar) RepairAll(context.Context, lake.Store) error { return nil }

// TestConcurrentCommitsLoseNothingAndAddNothingTwiceIntegration: several
// committers (each its own metastore connection, as separate processes
// would have) commit different batches and the same batches to the same
// tables at once, against the stack's real Hive Metastore. Every table
// then holds exactly the objects of all batches, each once: no commit
// overwrote another's (the metastore's compare-and-swap), none added a
// batch another had added (the recorded ranges, re-read after a lost
// race). Trino counts the rows.
func TestConcurrentCommitsLoseNothingAndAddNothingTwiceIntegration(t *testing.T) {
	const events, committers = 8000, 4
	store, opts, more := ingestedLake(t, events)

	// Each committer's first registration repairs the tables from the lake
	// (the first batch), all at once; then the other batches land.
	all := make([]*iceberg.Tables, committers)
	errs := make([]error, committers)
	var wg sync.WaitGroup
	for i := range committers {
		tables, err := iceberg.Open(t.Context(), opts, store)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tables.Close() })
		all[i] = tables
		wg.Go(func() { errs[i] = tables.Register(context.Background(), nil) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	changes := more()
	require.Greater(t, len(changes), 2*committers)

	commit := func(order func(i int) []catalog.Change) {
		for i, tables := range all {
			wg.Go(func() {
				for _, ch := range order(i) {
					if err := tables.Register(context.Background(), []catalog.Change{ch}); err != nil {
						errs[i] = fmt.Errorf("committer %d: %w", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	}

	ep := stacktest.Get(t)
	db, err := sql.Open("trino", ep.TrinoURL)
	require.NoError(t, err)
	defer db.Close()
	// Every object in the lake.
	objects := map[string]int{}
	for _, ch := range changes {
		objects[ch.Schema.Table] = 0
	}
	for table := range objects {
		objs, err := store.List(t.Context(), lake.TablePrefix(table))
		require.NoError(t, err)
		for _, o := range objs {
			if strings.HasSuffix(o.Key, ".parquet") {
				objects[table]++
			}
		}
	}
	check := func(what string) {
		t.Helper()
		var total int64
		for table, objs := range objects {
			var rows, distinct, files int64
			q := fmt.Sprintf(`SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM %s.%s."%s"`, ep.TrinoMetastoreIcebergCatalog, opts.Namespace, table)
			require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&rows, &distinct))
			require.Equal(t, rows, distinct, "%s: %s: a row twice", what, table)
			q = fmt.Sprintf(`SELECT count(*) FROM %s.%s."%s$files"`, ep.TrinoMetastoreIcebergCatalog, opts.Namespace, table)
			require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&files))
			require.EqualValues(t, objs, files, "%s: %s: every object of every batch, once", what, table)
			total += rows
		}
		require.EqualValues(t, events, total, "%s: every event in its table", what)
	}

	// Different batches to the same tables at once, each batch by one
	// committer: a commit that overwrote another's would lose its batch.
	commit(func(i int) []catalog.Change {
		var mine []catalog.Change
		for j, ch := range changes {
			if j%committers == i {
				mine = append(mine, ch)
			}
		}
		return mine
	})
	check("each batch by one committer")
	// Every batch by every committer, each starting at a different one: a
	// batch added twice would count twice.
	commit(func(i int) []catalog.Change {
		return slices.Concat(changes[i*len(changes)/committers:], changes[:i*len(changes)/committers])
	})
	check("every batch by every committer")
	t.Logf("%d batch changes over %d tables committed by %d committers at once", len(changes), len(objects), committers)
}
