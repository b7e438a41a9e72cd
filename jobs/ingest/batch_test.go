package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// testSetup is an embedded broker with a topic of 3 partitions and a local lake.
type testSetup struct {
	broker *embedded.Broker
	opts   Options
	store  *lake.Local
}

func newSetup(t *testing.T) *testSetup {
	t.Helper()
	b, err := embedded.StartBroker(0, "", []string{"events"}, 3)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	opts := DefaultOptions()
	opts.Kafka.Brokers = b.Addrs()
	opts.Kafka.SessionTimeout = 6 * time.Second
	opts.SpoolDir = t.TempDir()
	opts.MaxWait = 20 * time.Second
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	return &testSetup{broker: b, opts: opts, store: st}
}

// withRegistrar is the setup's options with reg as the catalog.
func (s *testSetup) withRegistrar(reg Registrar) Options {
	o := s.opts
	o.Registrar = reg
	return o
}

// produce sends values round-robin over the partitions and waits for acks.
func (s *testSetup) produce(t *testing.T, values [][]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.opts.Kafka.Brokers...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: v}
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

// gameEvents makes n events and counts them per event type.
func gameEvents(n int, at time.Time) ([][]byte, map[string]int64) {
	g := gen.NewEvents(42, nil, nil)
	out := make([][]byte, n)
	counts := map[string]int64{}
	for i := range out {
		ev := g.Next(nil, at.Add(time.Duration(i)*time.Second))
		out[i] = ev.JSON
		counts[ev.Type]++
	}
	return out, counts
}

func TestBatchWritesEveryEventOnceAsSnappyParquet(t *testing.T) {
	s := newSetup(t)
	at := time.Date(2026, 11, 22, 10, 59, 0, 0, time.UTC)
	values, counts := gameEvents(3000, at)
	s.produce(t, values)

	j := New(s.opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 3000, st.Events)
	require.EqualValues(t, 0, st.DeadLetters)

	rep, err := lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	for typ, n := range counts {
		require.Equal(t, n, rep.Rows[typ], "rows of %s", typ)
	}
	require.EqualValues(t, 3000, rep.Total)
	require.Zero(t, rep.Duplicates)
	require.Equal(t, map[string]bool{"SNAPPY": true}, rep.Codecs)

	// Events span 50 minutes from 10:59, so two hours: both partitions exist.
	parts, err := lake.Partitions(context.Background(), s.store, "purchase_sword")
	require.NoError(t, err)
	require.Len(t, parts, 2)

	// Columns: header names normalized, types inferred, timestamps readable.
	var host, ua, src string
	var price float64
	var et time.Time
	q := fmt.Sprintf(`SELECT host, user_agent, price, event_time, event_time_source FROM read_parquet('%s/purchase_sword/*/*/*.parquet') ORDER BY kafka_partition, kafka_offset LIMIT 1`, s.store.Root())
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error { return r.Scan(&host, &ua, &price, &et, &src) }))
	require.True(t, strings.HasPrefix(host, "game-"), host)
	require.NotEmpty(t, ua)
	require.Equal(t, "event", src)
	require.True(t, !et.Before(at) && et.Before(at.Add(time.Hour)), "event_time %s", et)

	// A second batch finds nothing new and writes nothing.
	st, err = j.RunBatch(context.Background())
	require.NoError(t, err)
	require.Zero(t, st.Events)
	require.Zero(t, st.Files)
}

func TestBadInputGoesToDeadLetters(t *testing.T) {
	s := newSetup(t)
	now := time.Now().UTC()
	good, counts := gameEvents(30, now)
	bad := map[string][]byte{
		"binary":        {0xff, 0xfe, 0x00, 0x01, 0x80},
		"truncated":     []byte(`{"event_type":"join_guild","host":"a`),
		"traversal":     []byte(`{"event_type":"../../x","host":"a"}`),
		"injection":     []byte(`{"event_type":"a;DROP TABLE t","host":"a"}`),
		"empty":         {},
		"empty_type":    []byte(`{"event_type":"","host":"a"}`),
		"unicode_type":  []byte(`{"event_type":"épée","host":"a"}`),
		"no_type":       []byte(`{"host":"a"}`),
		"number_type":   []byte(`{"event_type":7}`),
		"array":         []byte(`[1,2,3]`),
		"type_conflict": []byte(`{"event_type":"purchase_sword","price":"free"}`),
		"huge":          []byte(`{"event_type":"` + strings.Repeat("z", 5000) + `"}`),
	}
	values := append([][]byte{}, good...)
	for _, v := range bad {
		values = append(values, v)
	}
	// A good event with a huge value is kept, not dead-lettered.
	values = append(values, []byte(`{"event_type":"default","blob":"`+strings.Repeat("x", 200_000)+`"}`))
	counts["default"]++
	s.produce(t, values)

	j := New(s.opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, len(values), st.Events)
	require.EqualValues(t, len(bad), st.DeadLetters)

	rep, err := lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, len(bad), rep.Rows[lake.DeadLetterTable])
	for typ, n := range counts {
		require.Equal(t, n, rep.Rows[typ], typ)
	}
	require.Zero(t, rep.Duplicates)
	require.Equal(t, map[string]int64{
		reasonNotJSON: 3, reasonNotObject: 1, reasonNoEventType: 2, reasonBadEventType: 5, reasonTypeConflict: 1,
	}, rep.DeadReasons)

	// The binary record's exact bytes survive in raw_base64.
	var b64 string
	q := fmt.Sprintf(`SELECT raw_base64 FROM read_parquet('%s/_dead_letter/*/*/*.parquet') WHERE raw_base64 IS NOT NULL`, s.store.Root())
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error { return r.Scan(&b64) }))
	require.Equal(t, "//4AAYA=", b64)

	// Nothing was written outside the table directories.
	entries, err := os.ReadDir(s.store.Root())
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	require.ElementsMatch(t, []string{"_dead_letter", "_silt", "default", "join_guild", "purchase_sword"}, dirs)
	_, err = os.Stat(filepath.Join(filepath.Dir(s.store.Root()), "x"))
	require.True(t, os.IsNotExist(err))
}

// failingStore fails every Put of a Parquet object after the first n.
type failingStore struct {
	lake.Store
	n     int64
	count atomic.Int64
}

var errInjected = errors.New("injected failure")

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasSuffix(key, ".parquet") && f.count.Add(1) > f.n {
		return errInjected
	}
	return f.Store.Put(ctx, key, r, size)
}

func TestCrashedBatchIsReplayedExactlyOnce(t *testing.T) {
	s := newSetup(t)
	s.opts.TargetFileBytes = 4 << 10 // many small files, so the crash lands mid-batch
	values, counts := gameEvents(2000, time.Now().UTC())
	s.produce(t, values)

	crashing := New(s.opts, &failingStore{Store: s.store, n: 5})
	_, err := crashing.RunBatch(context.Background())
	require.ErrorIs(t, err, errInjected)
	crashing.Close()

	rep, err := lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	require.Equal(t, 5, rep.Files, "the crashed attempt left its first uploads behind")

	// More events arrive before the restart; the replay must still cover
	// exactly the pinned ranges, and a later batch the rest.
	more, moreCounts := gameEvents(600, time.Now().UTC())
	s.produce(t, more)
	for k, v := range moreCounts {
		counts[k] += v
	}

	j := New(s.opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.Replayed, 1, "the pinned range of the crashed attempt is replayed")
	total := st.Events
	for total < 2600 {
		st, err = j.RunBatch(context.Background())
		require.NoError(t, err)
		require.NotZero(t, st.Events, "no progress with %d of 2600 events", total)
		total += st.Events
	}
	rep, err = lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, 2600, rep.Total)
	require.Zero(t, rep.Duplicates)
	for typ, n := range counts {
		require.Equal(t, n, rep.Rows[typ], typ)
	}
}

// flakyRegistrar fails Register while down, and records what it was asked.
type flakyRegistrar struct {
	down     bool
	changes  [][]catalog.Change
	repaired int
}

func (f *flakyRegistrar) Register(_ context.Context, ch []catalog.Change) error {
	if f.down {
		return errors.New("trino is down")
	}
	f.changes = append(f.changes, ch)
	return nil
}

func (f *flakyRegistrar) RepairAll(context.Context, lake.Store) error {
	if f.down {
		return errors.New("trino is down")
	}
	f.repaired++
	return nil
}

func TestFailedRegistrationIsRepairedByTheNextBatch(t *testing.T) {
	s := newSetup(t)
	reg := &flakyRegistrar{down: true}
	opts := s.withRegistrar(reg)
	metrics := prometheus.NewRegistry()
	opts.Metrics = NewMetrics(metrics)
	j := New(opts, s.store)
	defer j.Close()
	registrations := func(outcome string) float64 {
		fams, err := metrics.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				if f.GetName() == "silt_ingest_registrations_total" && m.GetLabel()[0].GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}

	at := time.Now().UTC()
	values, _ := gameEvents(300, at)
	s.produce(t, values)
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err, "a registration failure does not fail the batch")
	require.EqualValues(t, 300, st.Events)
	require.Contains(t, st.RegisterError, "trino is down")
	require.EqualValues(t, 1, registrations("failed"), "silt_ingest_registrations_total{outcome=failed}")
	_, err = s.store.Stat(context.Background(), registerPendingKey)
	require.NoError(t, err, "the failure is remembered in the lake")

	// The next batch (with nothing new, even) repairs everything.
	reg.down = false
	st, err = j.RunBatch(context.Background())
	require.NoError(t, err)
	require.Empty(t, st.RegisterError)
	require.Equal(t, 1, reg.repaired)
	require.EqualValues(t, 1, registrations("ok"))
	require.EqualValues(t, 1, registrations("failed"))
	_, err = s.store.Stat(context.Background(), registerPendingKey)
	require.ErrorIs(t, err, lake.ErrNotExist)

	// Then batches register just what they wrote.
	s.produce(t, values[:30])
	_, err = j.RunBatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, reg.repaired)
	require.Len(t, reg.changes, 1)
	// Exactly the (table, hour) partitions of those 30 events: no more.
	want := map[string]bool{}
	g := gen.NewEvents(42, nil, nil)
	for i := range 30 {
		ev := g.Next(nil, at)
		hour := at.Add(time.Duration(i) * time.Second)
		want[ev.Type+"/dt="+hour.Format("2006-01-02")+"/hour="+hour.Format("15")] = true
	}
	got := map[string]bool{}
	for _, c := range reg.changes[0] {
		for _, p := range c.Partitions {
			require.Equal(t, c.Schema.Table, p.Table)
			got[p.Table+"/dt="+p.Date+"/hour="+p.Hour] = true
		}
	}
	require.Equal(t, want, got)

	// A batch that wrote nothing registers nothing and marks nothing.
	st, err = j.RunBatch(context.Background())
	require.NoError(t, err)
	require.Zero(t, st.Events)
	require.Empty(t, st.RegisterError)
	require.Len(t, reg.changes, 1)
	_, err = s.store.Stat(context.Background(), registerPendingKey)
	require.ErrorIs(t, err, lake.ErrNotExist)
}

func TestBatchesAreBoundedByMaxBytes(t *testing.T) {
	s := newSetup(t)
	s.opts.MaxBytes = 60 << 10 // about 250 game events per batch over 3 partitions
	values, _ := gameEvents(2000, time.Now().UTC())
	s.produce(t, values)
	j := New(s.opts, s.store)
	defer j.Close()

	first, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	total := first.Events
	batches := 1
	for total < 2000 {
		st, err := j.RunBatch(context.Background())
		require.NoError(t, err)
		// Ranges are planned in records from the average record size, so
		// the bound holds to within the spread of record sizes.
		require.LessOrEqual(t, st.BytesIn, int64(s.opts.MaxBytes)*11/10, "batch %d", batches+1)
		require.NotZero(t, st.Events)
		total += st.Events
		batches++
	}
	require.Greater(t, batches, 5)
	rep, err := lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, 2000, rep.Distinct)
	require.Zero(t, rep.Duplicates)
}

// A transaction's commit marker takes an offset but is never delivered as
// a record: a range planned to the high watermark must still complete.
func TestTransactionMarkersAtTheEndDoNotStallBatches(t *testing.T) {
	s := newSetup(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.opts.Kafka.Brokers...), kgo.DefaultProduceTopic("events"),
		kgo.TransactionalID("silt-test-tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	values, counts := gameEvents(200, time.Now().UTC())
	require.NoError(t, cl.BeginTransaction())
	for _, v := range values {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: v, Partition: 0}).FirstErr())
	}
	require.NoError(t, cl.EndTransaction(ctx, kgo.TryCommit))

	s.opts.MaxWait = 10 * time.Second
	j := New(s.opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(ctx) // used to fail at max_wait, waiting for the marker's offset
	require.NoError(t, err)
	require.EqualValues(t, 200, st.Events)
	st, err = j.RunBatch(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Events)

	rep, err := lakecheck.Check(ctx, s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, 200, rep.Total)
	require.Zero(t, rep.Duplicates)
	for typ, n := range counts {
		require.Equal(t, n, rep.Rows[typ], typ)
	}
}

func TestDrainEndsAnIdleBatchAtOnce(t *testing.T) {
	s := newSetup(t)
	s.opts.MaxWait = time.Hour
	s.opts.Kafka.Topics = []string{"no-records-yet"}
	j := New(s.opts, s.store)
	defer j.Close()
	done := make(chan error, 1)
	go func() {
		_, err := j.RunBatch(context.Background())
		done <- err
	}()
	j.Drain()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute): // a bound on a hang, not a timing assertion
		t.Fatal("a drained batch kept waiting for records")
	}
}

// TestAPartitionDoneEarlyIsNotFetchedOnUntilTheNextBatch: partition 0's
// range ends after 1,000 records, while partition 1's few large records
// take many more fetches. The batch must pause partition 0 there, holding
// for the next batch only what it had already polled (about one fetch),
// not every record Kafka would go on sending meanwhile (all 11,000 here,
// held in memory: at 10M events, 262,000 records and over 100 MB). The
// next batches resume it and ingest everything once.
func TestAPartitionDoneEarlyIsNotFetchedOnUntilTheNextBatch(t *testing.T) {
	s := newSetup(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.opts.Kafka.Brokers...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	const small, large = 12_000, 60
	var recs []*kgo.Record
	pad := strings.Repeat("x", 1000) // about 1,000 records per 1 MiB partition fetch
	for i := range small {
		recs = append(recs, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, `{"event_type":"tick","n":%d,"pad":"%s"}`, i, pad)})
	}
	big := strings.Repeat("y", 256<<10) // 4 per fetch
	for i := range large {
		recs = append(recs, &kgo.Record{Partition: 1, Value: fmt.Appendf(nil, `{"event_type":"blob","n":%d,"pad":"%s"}`, i, big)})
	}
	// One record in partition 2 as well, so that every batch can finish
	// as soon as partition 0's range is done.
	recs = append(recs, &kgo.Record{Partition: 2, Value: []byte(`{"event_type":"tick","n":-1}`)})
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	s.opts.MaxRecords = 3000 // 1,000 records per partition
	j := New(s.opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1000+large+1, st.Events)
	held := 0
	for _, l := range j.leftovers {
		held += len(l)
	}
	require.Less(t, held, 3000, "records of partition 0 held for the next batch")

	total := st.Events
	for total < small+large+1 {
		st, err := j.RunBatch(ctx)
		require.NoError(t, err)
		require.NotZero(t, st.Events, "a batch after %d of %d events", total, small+large+1)
		total += st.Events
	}
	rep, err := lakecheck.Check(ctx, s.store.Root())
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"tick": small + 1, "blob": large}, rep.Rows)
	require.Zero(t, rep.Duplicates)
}
