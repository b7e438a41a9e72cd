// Package ingest drains Kafka in micro-batches into per-event-type Snappy
// Parquet tables on the lake, exactly once: each batch pins its offset
// ranges in a manifest before writing, names objects after the records they
// hold, and commits offsets only after the manifest says the data is
// durable. See manifest.go for the protocol's state.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/kafkaconn"
	"github.com/silt-etl/silt/internal/topics"
	"github.com/silt-etl/silt/lake"
)

// registerPendingKey marks that a batch's registration failed: the next
// batch, in this process or another, repairs the whole catalog from the
// lake instead of registering only what it wrote.
const registerPendingKey = lake.MetaPrefix + "register-pending"

// tp is a topic partition.
type tp struct {
	topic string
	part  int32
}

// Job is the ingest job. Run drains one batch; the Kafka client and the
// per-partition state live across runs, so a scheduled job stays in its
// consumer group between batches instead of rejoining each time.
type Job struct {
	name    string
	kafka   KafkaOptions
	cfg     Options
	unit    lake.TimeUnit
	store   lake.Store
	reg     Registrar
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	extra   []kgo.Opt

	mu       sync.Mutex // guards assigned, manifests and leftovers against client callbacks
	assigned map[tp]bool
	// everAssigned: this client has joined its group at least once, so an
	// empty assignment now means the group has no partition to spare.
	everAssigned bool
	// draining asks the running batch to end as soon as it holds no
	// pinned range (a signal arrived): see Drain.
	draining  atomic.Bool
	manifests map[tp][]*lake.BatchManifest
	leftovers map[tp][]*kgo.Record

	client *kgo.Client
	tables map[string]*table
	last   BatchStats
	// avgRecordBytes turns ingest.max_bytes into a record budget; it is
	// learned from the batches so far (0 until the first one).
	avgRecordBytes int64
	// layoutRecorded: the lake's layout is known to be cfg.Layout.
	layoutRecorded bool
}

// New makes an ingest job; it connects on its first Run.
func New(opts Options, store lake.Store) *Job {
	j := &Job{
		name: opts.Name, kafka: opts.Kafka, cfg: opts, unit: opts.TimestampUnit, store: store,
		reg: opts.Registrar, log: opts.Logger, now: time.Now, extra: opts.Kafka.ClientOpts,
		assigned: map[tp]bool{}, manifests: map[tp][]*lake.BatchManifest{}, leftovers: map[tp][]*kgo.Record{},
		tables: map[string]*table{},
	}
	if j.name == "" {
		j.name = "ingest"
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	if j.metrics = opts.Metrics; j.metrics == nil {
		j.metrics = NewMetrics(nil)
	}
	return j
}

func (j *Job) Name() string { return j.name }

// Last is the outcome of the last successful batch.
func (j *Job) Last() BatchStats { return j.last }

// Run drains one batch. The counts it returns are for the run history.
func (j *Job) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	st, err := j.RunBatch(ctx)
	if err != nil {
		return nil, err
	}
	return st.Counts(), nil
}

// Drain makes the running batch, and any later one, end at once when it
// has pinned nothing yet, instead of waiting for records or a join; a batch
// with pinned ranges still finishes them. For a prompt, safe shutdown.
func (j *Job) Drain() { j.draining.Store(true) }

// leaveTimeout bounds leaving the group on Close: a leave waits for a
// rebalance under way, which can wait out a dead member for the whole
// rebalance timeout. After it the leave is forced; the group notices the
// member gone at its session timeout instead.
const leaveTimeout = 5 * time.Second

// Close leaves the consumer group.
func (j *Job) Close() {
	if j.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	j.client.AllowRebalance()
	if err := j.client.LeaveGroupContext(ctx); err != nil {
		j.log.Warn("leaving the consumer group timed out; closing anyway", "err", err)
	}
	j.client.Close()
	j.client = nil
}

func (j *Job) connect(ctx context.Context) (*kgo.Client, error) {
	if j.client != nil {
		return j.client, nil
	}
	if j.kafka.CreateTopics {
		if err := topics.Ensure(ctx, j.kafka.Brokers, j.kafka.Topics, j.kafka.Partitions, j.extra...); err != nil {
			return nil, err
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(j.kafka.Brokers...),
		kgo.ConsumerGroup(j.kafka.Group),
		kgo.ConsumeTopics(j.kafka.Topics...),
		// Offsets are committed only after the batch is durable in the lake.
		kgo.DisableAutoCommit(),
		// Partitions are never revoked while a batch holds their records.
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(j.kafka.SessionTimeout),
		// A batch holds rebalances off until it commits, for up to
		// max_wait: the group must wait at least that long for it.
		kgo.RebalanceTimeout(max(60*time.Second, j.cfg.MaxWait+30*time.Second)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(j.onAssigned),
		kgo.OnPartitionsRevoked(j.onRevoked),
		kgo.OnPartitionsLost(j.onRevoked),
		kgo.ClientID("silt-ingest"),
		// A fetch waits at most this long for new records (Kafka's Java
		// consumer default; franz-go's is 5 s). A partition that the last
		// batch paused (batch.stop) and this one resumed is fetched only
		// from the next request on, so with 5 s an idle topic's long poll
		// held it back past idleEnd and the batch ended with its leftovers
		// alone.
		kgo.FetchMaxWait(fetchMaxWait),
	}
	if j.kafka.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(j.kafka.InstanceID))
	}
	client, err := kgo.NewClient(append(opts, j.extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", j.kafka.Brokers, err)
	}
	// A refused login or a failed handshake fails this batch now, with its
	// cause, instead of polling silently until max_wait.
	if err := kafkaconn.Preflight(ctx, client); err != nil {
		client.Close()
		return nil, err
	}
	j.client = client
	return client, nil
}

// reset drops the client after a failed batch: its fetch positions ran
// ahead of what was committed, and a new client resumes from the commits.
func (j *Job) reset() {
	j.Close()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.assigned = map[tp]bool{}
	j.everAssigned = false
	j.manifests = map[tp][]*lake.BatchManifest{}
	j.leftovers = map[tp][]*kgo.Record{}
	j.tables = map[string]*table{}
}

func (j *Job) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	j.mu.Lock()
	defer j.mu.Unlock()
	// Called after every join, also with no partitions: either way the
	// member has joined, and a batch need not wait for it any longer.
	j.everAssigned = true
	for topic, parts := range m {
		for _, p := range parts {
			j.assigned[tp{topic, p}] = true
		}
	}
	j.log.Info("partitions assigned", "partitions", m)
}

// onRevoked forgets everything about partitions this process no longer
// owns: another member replays from the committed offsets and manifests.
func (j *Job) onRevoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for topic, parts := range m {
		for _, p := range parts {
			k := tp{topic, p}
			delete(j.assigned, k)
			delete(j.manifests, k)
			delete(j.leftovers, k)
		}
	}
	j.log.Info("partitions revoked", "partitions", m)
}

func (j *Job) assignedPartitions() []tp {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]tp, 0, len(j.assigned))
	for k := range j.assigned {
		out = append(out, k)
	}
	return out
}

// RunBatch drains one micro-batch: up to the high watermarks seen at its
// start, bounded by max_records, and within max_wait.
func (j *Job) RunBatch(ctx context.Context) (BatchStats, error) {
	if !j.layoutRecorded {
		// Before anything is written: a lake holds one layout.
		if err := lake.RecordLayout(ctx, j.store, j.cfg.Layout); err != nil {
			return BatchStats{}, fmt.Errorf("ingest: %w", err)
		}
		j.layoutRecorded = true
	}
	client, err := j.connect(ctx)
	if err != nil {
		return BatchStats{}, err
	}
	started := j.now()
	b, err := j.newBatch(ctx, client, started)
	if err != nil {
		j.metrics.batches.WithLabelValues("failed").Inc()
		j.reset()
		return BatchStats{}, err
	}
	st, err := b.run(ctx)
	client.AllowRebalance()
	j.metrics.duration.Observe(time.Since(started).Seconds())
	if err != nil {
		b.files.discardAll()
		j.metrics.batches.WithLabelValues("failed").Inc()
		j.reset()
		return st, fmt.Errorf("ingest batch: %w", err)
	}
	j.metrics.batches.WithLabelValues("ok").Inc()
	j.last = st
	if st.Events > 0 {
		j.avgRecordBytes = max(st.BytesIn/st.Events, 1)
	}
	if j.reg != nil {
		if err := j.register(ctx, b.catalogChanges()); err != nil {
			st.RegisterError = err.Error()
			j.metrics.registrations.WithLabelValues("failed").Inc()
			j.log.Warn("register batch in catalog failed; the next batch repairs the catalog from the lake", "err", err)
		} else {
			j.metrics.registrations.WithLabelValues("ok").Inc()
		}
	}
	// Committed, and registered where the catalog answered: the records
	// are visible now.
	j.metrics.fresh.commit(b.fresh, j.metrics.fresh.now())
	return st, nil
}

// register tells the catalog what a batch wrote. A failure never fails the
// batch (the data is committed): it leaves a marker in the lake, and the
// next batch repairs the whole catalog from the lake.
//
// Every process may mark and clear the marker. A mark is a Put of a token
// of its own (any mark means "repair", so marks need no condition, but
// each changes the marker's version); a repair clears the marker only if
// it is still the mark it read before repairing: a process that marked it
// meanwhile (its registration failed while the repair ran, perhaps too
// early to see its data) keeps its mark, and the next batch repairs again.
// The store has no conditional delete, so a mark that lands between that
// last check and the delete, microseconds apart, is still lost.
func (j *Job) register(ctx context.Context, changes []catalog.Change) error {
	_, seen, err := j.store.GetVersion(ctx, registerPendingKey)
	pending := err == nil
	if err != nil && !errors.Is(err, lake.ErrNotExist) {
		return err
	}
	err = nil
	switch {
	case pending:
		err = j.reg.RepairAll(ctx, j.store)
		if err == nil {
			err = j.clearPending(ctx, seen)
		}
	case len(changes) > 0:
		err = j.reg.Register(ctx, changes)
	}
	if err != nil {
		// Also when it was marked already: a new mark tells a repair
		// running elsewhere that it may have been too early for this
		// batch's data.
		mark := fmt.Sprintf("%s %x\n", time.Now().UTC().Format(time.RFC3339Nano), rand.Uint64())
		if merr := j.store.Put(ctx, registerPendingKey, strings.NewReader(mark), int64(len(mark))); merr != nil {
			return errors.Join(err, fmt.Errorf("mark registration pending: %w", merr))
		}
	}
	return err
}

// clearPending deletes the repair marker if it is still at version seen.
func (j *Job) clearPending(ctx context.Context, seen lake.Version) error {
	_, now, err := j.store.GetVersion(ctx, registerPendingKey)
	switch {
	case errors.Is(err, lake.ErrNotExist):
		return nil
	case err != nil:
		return err
	case now != seen:
		j.log.Info("registration marked pending again during the repair; the next batch repairs again")
		return nil
	}
	return j.store.Delete(ctx, registerPendingKey)
}

// table returns the ingest state of a table, loading its schema on first use.
func (j *Job) table(ctx context.Context, name string) (*table, error) {
	if t, ok := j.tables[name]; ok {
		return t, nil
	}
	s, _, err := lake.LoadSchema(ctx, j.store, name)
	if err != nil {
		return nil, err
	}
	t := newTable(s, j.cfg.Tables[name])
	j.tables[name] = t
	return t, nil
}

// commitColumns commits new columns of a table to the lake's schema file
// before any row uses them, and adopts the committed schema: it may hold
// columns other processes added meanwhile, and where another process
// committed one of these columns first, that process's type, which this
// one's rows then take (lossless where the value fits: a number into
// double or into varchar as its JSON text) or go to the dead letters as a
// type_conflict. The write is conditional (lake.UpdateSchema): a race
// with another process re-reads and merges, never overwrites.
func (j *Job) commitColumns(ctx context.Context, t *table, cols []lake.Column) error {
	committed, err := lake.AddColumns(ctx, j.store, t.schema.Table, cols)
	if err != nil {
		return err
	}
	return t.adopt(committed)
}

func (j *Job) spoolDir() string {
	if j.cfg.SpoolDir != "" {
		return j.cfg.SpoolDir
	}
	return os.TempDir()
}

// pollErr filters the errors of a poll: a poll context that timed out is
// how the batch loop wakes up, not an error.
func pollErr(fetches kgo.Fetches) error {
	var errs []error
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		errs = append(errs, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
	})
	return errors.Join(errs...)
}

// kadmClient is the admin view of the job's client.
func kadmClient(c *kgo.Client) *kadm.Client { return kadm.NewClient(c) }
