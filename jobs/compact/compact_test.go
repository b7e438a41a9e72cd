package compact

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// ingested is a local lake that ingest filled with many small objects of
// events two to three hours old (finished partitions), plus bad records.
func ingested(t *testing.T, n int) (Options, *lake.Local, map[string]int64) {
	t.Helper()
	return ingestedIn(t, n, lake.DtHour)
}

// ingestedIn is ingested with the partition directories of layout.
func ingestedIn(t *testing.T, n int, layout lake.Layout) (Options, *lake.Local, map[string]int64) {
	t.Helper()
	b, err := embedded.StartBroker(0, "", []string{"events"}, 2)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	in := ingest.DefaultOptions()
	in.Kafka.Brokers = b.Addrs()
	in.SpoolDir = t.TempDir()
	in.TargetFileBytes = 256 << 10 // outputs of up to 256 KiB; ingest objects are far smaller
	in.MaxRecords = 500            // many batches
	in.Layout = layout
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)

	cl, err := kgo.NewClient(kgo.SeedBrokers(in.Kafka.Brokers...), kgo.DefaultProduceTopic("events"))
	require.NoError(t, err)
	defer cl.Close()
	g := gen.NewEvents(3, nil, nil)
	start := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	counts := map[string]int64{}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		ev := g.Next(nil, start.Add(time.Duration(i)*time.Hour/time.Duration(n)))
		counts[ev.Type]++
		recs = append(recs, &kgo.Record{Value: ev.JSON})
	}
	recs = append(recs, &kgo.Record{Value: []byte("not json")}, &kgo.Record{Value: []byte(`{"event_type":"../x"}`)})
	counts[lake.DeadLetterTable] = 2
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())

	j := ingest.New(in, st)
	defer j.Close()
	var total int64
	for total < int64(len(recs)) {
		stats, err := j.RunBatch(context.Background())
		require.NoError(t, err)
		total += stats.Events
	}
	cfg := Options{TimestampUnit: in.TimestampUnit, TargetFileBytes: in.TargetFileBytes, RowGroupBytes: in.RowGroupBytes, SpoolDir: in.SpoolDir}
	return cfg, st, counts
}

func parquetCount(t *testing.T, st lake.Store) int {
	t.Helper()
	objs, err := st.List(context.Background(), "")
	require.NoError(t, err)
	n := 0
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".parquet") {
			n++
		}
	}
	return n
}

func TestCompactionMergesSmallObjectsAndKeepsEveryRow(t *testing.T) {
	cfg, st, counts := ingested(t, 6000)
	before := parquetCount(t, st)
	require.Greater(t, before, 40, "ingest wrote many small objects")

	counted, err := New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	after := parquetCount(t, st)
	require.Less(t, after, before/3, "objects before %d, after %d", before, after)
	require.EqualValues(t, before-after, counted["inputs"]-counted["outputs"])

	rep, err := lakecheck.Check(context.Background(), st.Root())
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	for table, n := range counts {
		require.Equal(t, n, rep.Rows[table], table)
	}
	// A second run finds nothing more to do.
	counted, err = New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.Zero(t, counted["outputs"])
}

func TestCompactionLeavesRecentPartitionsAlone(t *testing.T) {
	cfg, st, _ := ingested(t, 1000)
	before := parquetCount(t, st)
	// Three hours ago is recent with a four-hour grace.
	counted, err := New("compact", cfg, st).WithGrace(4*time.Hour).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.Zero(t, counted["outputs"])
	require.Equal(t, before, parquetCount(t, st))
}

// failingDeletes fails every Delete of a Parquet object after the first n.
type failingDeletes struct {
	lake.Store
	n     int64
	count atomic.Int64
}

func (f *failingDeletes) Delete(ctx context.Context, key string) error {
	if strings.HasSuffix(key, ".parquet") && f.count.Add(1) > f.n {
		return errors.New("injected crash")
	}
	return f.Store.Delete(ctx, key)
}

func TestCrashedCompactionIsFinishedByTheNextRun(t *testing.T) {
	cfg, st, counts := ingested(t, 3000)
	_, err := New("compact", cfg, &failingDeletes{Store: st, n: 3}).Run(context.Background(), time.Now())
	require.Error(t, err)
	// Mid-compaction the output and some inputs coexist: duplicates.
	rep, err := lakecheck.Check(context.Background(), st.Root())
	require.NoError(t, err)
	require.NotZero(t, rep.Duplicates)

	counted, err := New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.EqualValues(t, 1, counted["resumed"])
	rep, err = lakecheck.Check(context.Background(), st.Root())
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	for table, n := range counts {
		require.Equal(t, n, rep.Rows[table], table)
	}
}

// A run whose lease expired can leave a plan behind, not marked written,
// for a compaction another process then finished (inputs deleted). The
// next run must finish it, not undo it: undoing deletes the output, the
// only copy of those rows left.
func TestStalePlanOfAFinishedCompactionKeepsItsOutput(t *testing.T) {
	cfg, st, counts := ingested(t, 3000)
	_, err := New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	objs, err := st.List(context.Background(), "")
	require.NoError(t, err)
	var output string
	for _, o := range objs {
		if strings.Contains(o.Key, "/compacted-") {
			output = o.Key
			break
		}
	}
	require.NotEmpty(t, output, "the first run compacted something")
	stale := plan{Table: strings.Split(output, "/")[0], Inputs: []string{strings.Replace(output, "compacted-", "gone-input-", 1)}, Output: output}
	_, err = New("compact", cfg, st).claim(context.Background(), stale)
	require.NoError(t, err)

	counted, err := New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.EqualValues(t, 1, counted["resumed"], "finished, not undone")
	_, err = st.Stat(context.Background(), output)
	require.NoError(t, err, "the output survives")
	rep, err := lakecheck.Check(context.Background(), st.Root())
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	for table, n := range counts {
		require.Equal(t, n, rep.Rows[table], table)
	}
}

// racingStore plays another process at the two moments its compaction can
// collide with this one's: it claims the same plan just before this run
// does (claimFirst), or, right after this run uploaded its output, resumes
// and undoes this run's plan as a process that found it unwritten would
// (undoAfterUpload: output and plan deleted).
type racingStore struct {
	lake.Store
	claimFirst, undoAfterUpload bool
	raced                       atomic.Bool
}

func (r *racingStore) Create(ctx context.Context, key string, data []byte) (lake.Version, error) {
	if r.claimFirst && strings.HasPrefix(key, manifestPrefix) && !r.raced.Swap(true) {
		if _, err := r.Store.Create(ctx, key, data); err != nil {
			return "", err
		}
	}
	return r.Store.Create(ctx, key, data)
}

func (r *racingStore) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := r.Store.Put(ctx, key, body, size); err != nil {
		return err
	}
	if r.undoAfterUpload && strings.Contains(key, "/compacted-") && !r.raced.Swap(true) {
		pl := plan{Output: key, Table: strings.Split(key, "/")[0]}
		if err := r.Store.Delete(ctx, key); err != nil {
			return err
		}
		return r.Store.Delete(ctx, planKey(pl))
	}
	return nil
}

// A plan another process claimed first is left to it: this run compacts
// the other partitions and touches none of that plan's objects.
func TestCompactionLeavesAPlanClaimedByAnotherRunAlone(t *testing.T) {
	cfg, st, counts := ingested(t, 3000)
	race := &racingStore{Store: st, claimFirst: true}
	counted, err := New("compact", cfg, race).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.True(t, race.raced.Load(), "the race was not staged")
	require.EqualValues(t, 1, counted["taken"])
	rep, err := lakecheck.Check(context.Background(), st.Root())
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	for table, n := range counts {
		require.Equal(t, n, rep.Rows[table], table)
	}
	// The other process "died": the next run resumes its unwritten plan
	// (undoes it) and compacts those inputs itself.
	counted, err = New("compact", cfg, st).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.EqualValues(t, 1, counted["undone"])
	require.Positive(t, counted["outputs"])
}

// A plan changed by another run between this run's upload and its marking
// the plan written must stop this run before it deletes any input: that
// run undid the compaction (deleted the output), and the inputs are the
// only copy of their rows.
func TestCompactionWhosePlanWasUndoneMeanwhileKeepsItsInputs(t *testing.T) {
	cfg, st, counts := ingested(t, 3000)
	race := &racingStore{Store: st, undoAfterUpload: true}
	counted, err := New("compact", cfg, race).Run(context.Background(), time.Now())
	require.NoError(t, err)
	require.True(t, race.raced.Load(), "the race was not staged")
	require.EqualValues(t, 1, counted["taken"])
	rep, err := lakecheck.Check(context.Background(), st.Root())
	require.NoError(t, err)
	require.Zero(t, rep.Duplicates)
	for table, n := range counts {
		require.Equal(t, n, rep.Rows[table], table, "rows lost with the undone compaction's inputs")
	}
}
