package ingest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// overlapStore holds the first Parquet upload until a second one has
// started, and checks at every Parquet upload that a manifest in the store
// already lists the key (the intent log comes first).
type overlapStore struct {
	lake.Store
	mu         sync.Mutex
	started    int
	second     chan struct{} // closed when the second upload starts
	notInLog   []string
	concurrent bool // the first upload saw the second start
}

func (s *overlapStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if !strings.HasSuffix(key, ".parquet") {
		return s.Store.Put(ctx, key, r, size)
	}
	src, ok := lake.ParseObjectKey(key)
	if !ok {
		return fmt.Errorf("not an object key: %s", key)
	}
	ms, err := lake.LoadBatchManifests(ctx, s.Store, src.Topic, src.KafkaPartition)
	if err != nil {
		return err
	}
	listed := false
	for _, m := range ms {
		listed = listed || slices.Contains(m.Objects, key)
	}
	s.mu.Lock()
	if !listed {
		s.notInLog = append(s.notInLog, key)
	}
	s.started++
	n := s.started
	if n == 2 {
		close(s.second)
	}
	s.mu.Unlock()
	if n == 1 {
		// One upload at a time on the batch goroutine would wait here
		// until the batch's context ends: the test's deadline fails it.
		select {
		case <-s.second:
			s.mu.Lock()
			s.concurrent = true
			s.mu.Unlock()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Store.Put(ctx, key, r, size)
}

func TestUploadsRunWhileTheBatchGoesOnAndAfterTheIntentLog(t *testing.T) {
	s := newSetup(t)
	s.opts.TargetFileBytes = 8 << 10 // many files
	values, counts := gameEvents(3000, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	s.produce(t, values)

	st := &overlapStore{Store: s.store, second: make(chan struct{})}
	j := New(s.opts, st)
	defer j.Close()
	// The deadline only ends a batch stuck behind its first upload.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stats, err := j.RunBatch(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3000, stats.Events)
	require.Greater(t, stats.Files, int64(2))
	require.True(t, st.concurrent, "a second upload started while the first ran")
	require.Empty(t, st.notInLog, "uploads started before their manifest listed them")

	rep, err := lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, 3000, rep.Total)
	require.Zero(t, rep.Duplicates)
	for typ, n := range counts {
		require.Equal(t, n, rep.Rows[typ], typ)
	}
	require.EqualValues(t, stats.Files, rep.Files, "every file the batch counted is in the lake")
}

func TestOpenFilesAreClosedAtTheMemoryBoundWithoutAnotherOpening(t *testing.T) {
	s := newSetup(t)
	// One event type, 50 minutes of events in one hour, one Kafka
	// partition: one file opens with the first row and no other after, so
	// only the bound checked as rows are written can close it.
	s.opts.MaxBufferedBytes = 64 << 10
	g := gen.NewEvents(42, nil, []string{"purchase_sword"})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	recs := make([]*kgo.Record, 9000) // memoryCheckRows apart, the bound is checked twice
	for i := range recs {
		recs[i] = &kgo.Record{Partition: 0, Value: g.Next(nil, at.Add(time.Duration(i)*300*time.Millisecond)).JSON}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.opts.Kafka.Brokers...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	cl.Close()

	j := New(s.opts, s.store)
	defer j.Close()
	stats, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 9000, stats.Events)
	var closed dto.Metric
	require.NoError(t, j.metrics.files.WithLabelValues("memory_bound").Write(&closed))
	require.Positive(t, closed.GetCounter().GetValue(), "files closed at the memory bound (of %d files)", stats.Files)

	rep, err := lakecheck.Check(context.Background(), s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, 9000, rep.Total)
	require.Zero(t, rep.Duplicates)
	require.EqualValues(t, 9000, rep.Rows["purchase_sword"])
}
