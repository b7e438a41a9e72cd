// Package compact merges the small Parquet objects of finished partitions
// into objects near the target size. Micro-batches write an object per
// table, hour and Kafka partition every few seconds; engines read a few
// large files much faster than thousands of small ones.
//
// Compaction touches only objects whose ingest batch is committed, so it
// never races a replay, and it is itself crash-safe: a compaction manifest
// names inputs and output before anything is written, the output is
// uploaded, the manifest says so, and only then are the inputs deleted. A
// crash is finished (or undone) by the next run. Readers can see a
// partition's rows twice for the moment between the upload and the
// deletes; Hive tables have no atomic file swap.
package compact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

const manifestPrefix = lake.MetaPrefix + "compactions/"

// Job is the compaction job.
type Job struct {
	name          string
	store         lake.Store
	unit          lake.TimeUnit
	target        int64 // output objects up to about this many bytes
	rowGroup      int64
	columnIndexes bool
	spoolDir      string
	grace         time.Duration // a partition is compacted once its hour ended this long ago
	log           *slog.Logger
	progress      func(Progress)
}

// Options configure a compaction job. Its outputs are written as ingest
// writes its objects, so the sizes and unit are ingest's (silt.yaml's
// ingest.target_file_bytes, row_group_bytes, column_indexes,
// timestamp_unit, spool_dir).
type Options struct {
	TimestampUnit   lake.TimeUnit
	TargetFileBytes int64 // output objects up to about this many bytes
	RowGroupBytes   int64
	ColumnIndexes   bool // parquetfile.Options.ColumnIndexes
	// SpoolDir holds outputs while they are written (empty: the system's
	// temporary directory).
	SpoolDir string
	// Logger gets the job's log lines; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called once the partitions due are listed
	// and after each is compacted (silt compact prints it).
	Progress func(Progress)
}

// Progress is how far a run got: partitions done of those due.
type Progress struct {
	Partitions, PartitionsTotal int
}

// New makes a compaction job.
func New(name string, opts Options, store lake.Store) *Job {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Job{
		name: name, store: store, unit: opts.TimestampUnit,
		target: opts.TargetFileBytes, rowGroup: opts.RowGroupBytes, columnIndexes: opts.ColumnIndexes,
		spoolDir: opts.SpoolDir, grace: time.Hour, log: log, progress: opts.Progress,
	}
}

// WithGrace changes how long after its hour a partition waits (tests).
func (j *Job) WithGrace(d time.Duration) *Job { j.grace = d; return j }

func (j *Job) Name() string { return j.name }

// plan is one compaction: inputs merged into output.
type plan struct {
	Table  string   `json:"table"`
	Inputs []string `json:"inputs"`
	Output string   `json:"output"`
	// Written is set once the output is uploaded: from then on, finishing
	// means deleting the inputs; before it, undoing means deleting the output.
	Written bool `json:"written"`
}

// Run compacts every partition whose hour ended before scheduledAt - grace.
func (j *Job) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	counts := map[string]int64{}
	if err := j.resume(ctx, counts); err != nil {
		return counts, err
	}
	tables, err := lake.Tables(ctx, j.store)
	if err != nil {
		return counts, err
	}
	tables = append(tables, lake.DeadLetterTable)
	committed := newCommitted(j.store)
	// Every partition due is listed first so that progress has a total.
	type due struct {
		p    lake.Partition
		cols []lake.Column
	}
	var work []due
	for _, table := range tables {
		cols, err := j.columns(ctx, table)
		if err != nil {
			return counts, err
		}
		parts, err := lake.Partitions(ctx, j.store, table)
		if err != nil {
			return counts, err
		}
		for _, p := range parts {
			start, err := p.Start()
			if err != nil || start.Add(time.Hour+j.grace).After(scheduledAt) {
				continue
			}
			work = append(work, due{p: p, cols: cols})
		}
	}
	if j.progress != nil {
		j.progress(Progress{PartitionsTotal: len(work)})
	}
	for i, w := range work {
		p := w.p
		plans, err := j.plan(ctx, p, committed)
		if err != nil {
			return counts, err
		}
		for _, pl := range plans {
			err := j.compact(ctx, pl, w.cols)
			if errors.Is(err, errPlanTaken) {
				j.log.Warn("compaction left to the run that owns its plan", "partition", p.String(), "plan", planKey(pl))
				counts["taken"]++
				continue
			}
			if err != nil {
				return counts, fmt.Errorf("compact %s: %w", p, err)
			}
			counts["inputs"] += int64(len(pl.Inputs))
			counts["outputs"]++
		}
		if j.progress != nil {
			j.progress(Progress{Partitions: i + 1, PartitionsTotal: len(work)})
		}
	}
	if counts["outputs"] > 0 {
		j.log.Info("compacted", "inputs", counts["inputs"], "outputs", counts["outputs"])
	}
	return counts, nil
}

func (j *Job) columns(ctx context.Context, table string) ([]lake.Column, error) {
	if table == lake.DeadLetterTable {
		return lake.DeadLetterColumns, nil
	}
	s, _, err := lake.LoadSchema(ctx, j.store, table)
	if err != nil {
		return nil, err
	}
	return s.AllColumns(), nil
}

// plan groups a partition's small committed objects into outputs of at
// most the target size; a group of one is left alone.
func (j *Job) plan(ctx context.Context, p lake.Partition, committed *committedIndex) ([]plan, error) {
	objs, err := j.store.List(ctx, p.Prefix())
	if err != nil {
		return nil, err
	}
	var small []lake.Object
	for _, o := range objs {
		// Under a quarter of the target: outputs (at least about half of it)
		// are never inputs again, so compaction reaches a fixed point.
		if !strings.HasSuffix(o.Key, ".parquet") || o.Size >= j.target/4 {
			continue
		}
		ok, err := committed.has(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		if ok {
			small = append(small, o)
		}
	}
	// Balanced groups: k outputs of total/k each, so that every output of a
	// multi-output partition is at least half the target and the next run
	// does not merge them again.
	var total int64
	for _, o := range small {
		total += o.Size
	}
	k := max((total+j.target-1)/j.target, 1)
	budget := total / k
	var plans []plan
	var group []string
	var size int64
	flush := func() {
		if len(group) > 1 {
			plans = append(plans, plan{Table: p.Table, Inputs: group, Output: outputKey(p, group)})
		}
		group, size = nil, 0
	}
	for _, o := range small {
		group = append(group, o.Key)
		size += o.Size
		if size >= budget && int64(len(plans)) < k-1 {
			flush()
		}
	}
	flush()
	return plans, nil
}

// outputKey is derived from the inputs, so a retried compaction of the same
// inputs writes the same object.
func outputKey(p lake.Partition, inputs []string) string {
	sorted := append([]string{}, inputs...)
	sort.Strings(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return p.Prefix() + "compacted-" + hex.EncodeToString(sum[:8]) + ".parquet"
}

func planKey(pl plan) string {
	name := strings.TrimSuffix(pl.Output[strings.LastIndex(pl.Output, "/")+1:], ".parquet")
	return manifestPrefix + pl.Table + "-" + name + ".json"
}

// errPlanTaken: another run has written (or since changed) this plan, so
// it owns the compaction; this run leaves it alone.
var errPlanTaken = errors.New("compaction plan taken by another run")

// claim writes a new plan only if none exists: two processes planning the
// same inputs (same output key) cannot both compact them. A lost race
// returns errPlanTaken.
func (j *Job) claim(ctx context.Context, pl plan) (lake.Version, error) {
	raw, err := json.Marshal(pl)
	if err != nil {
		return "", err
	}
	v, err := j.store.Create(ctx, planKey(pl), raw)
	if errors.Is(err, lake.ErrPreconditionFailed) {
		return "", errPlanTaken
	}
	return v, err
}

// markWritten records that the output is whole, only if the plan is still
// the one this run claimed: a plan another run resumed (and undid, say)
// meanwhile returns errPlanTaken, and this run must not delete inputs.
func (j *Job) markWritten(ctx context.Context, pl plan, prev lake.Version) error {
	raw, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	_, err = j.store.Replace(ctx, planKey(pl), raw, prev)
	if errors.Is(err, lake.ErrPreconditionFailed) || errors.Is(err, lake.ErrNotExist) {
		return errPlanTaken
	}
	return err
}

// compact merges pl's inputs into its output.
func (j *Job) compact(ctx context.Context, pl plan, cols []lake.Column) error {
	version, err := j.claim(ctx, pl)
	if err != nil {
		return err
	}
	w, err := parquetfile.NewWriter(j.spoolDir, cols, parquetfile.Options{Unit: j.unit, RowGroupBytes: j.rowGroup, ColumnIndexes: j.columnIndexes})
	if err != nil {
		return err
	}
	defer w.Discard()
	for _, key := range pl.Inputs {
		rows, err := j.readRows(ctx, key, cols)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.Write(r, 200); err != nil {
				return err
			}
		}
	}
	rs, size, err := w.Finish()
	if err != nil {
		return err
	}
	if err := j.store.Put(ctx, pl.Output, rs, size); err != nil {
		return err
	}
	pl.Written = true
	if err := j.markWritten(ctx, pl, version); err != nil {
		return err
	}
	return j.finish(ctx, pl)
}

// finish deletes the inputs of a written compaction, then its manifest.
// Readers of a Hive table see the inputs' rows twice from the output's
// upload until the inputs are gone (Hive has no atomic file swap; Iceberg
// tables will not), so the inputs go at once, concurrently: the window is
// one round of deletes, not one delete per input in turn.
func (j *Job) finish(ctx context.Context, pl plan) error {
	var g errgroup.Group
	g.SetLimit(16)
	for _, key := range pl.Inputs {
		g.Go(func() error { return j.store.Delete(ctx, key) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return j.store.Delete(ctx, planKey(pl))
}

// resume completes compactions a crash interrupted: a written one loses its
// inputs, an unwritten one its (possibly uploaded) output.
func (j *Job) resume(ctx context.Context, counts map[string]int64) error {
	objs, err := j.store.List(ctx, manifestPrefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		raw, err := lake.ReadAll(ctx, j.store, o.Key)
		if err != nil {
			return err
		}
		var pl plan
		if err := json.Unmarshal(raw, &pl); err != nil {
			return fmt.Errorf("read compaction manifest %s: %w", o.Key, err)
		}
		written := pl.Written
		if !written {
			// Inputs are deleted only once the output is whole. One that
			// is gone means another run (a process whose lease had
			// expired, racing this one) wrote the output and finished:
			// undoing would delete the only copy of those rows.
			if written, err = j.anyMissing(ctx, pl.Inputs); err != nil {
				return fmt.Errorf("resume compaction %s: %w", o.Key, err)
			}
		}
		if written {
			err = j.finish(ctx, pl)
			counts["resumed"]++
		} else {
			if err = j.store.Delete(ctx, pl.Output); err == nil {
				err = j.store.Delete(ctx, o.Key)
			}
			counts["undone"]++
		}
		if err != nil {
			return fmt.Errorf("resume compaction %s: %w", o.Key, err)
		}
	}
	return nil
}

func (j *Job) readRows(ctx context.Context, key string, cols []lake.Column) ([][]any, error) {
	rc, err := j.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(j.spoolDir, "silt-compact-*.parquet")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", key, err)
	}
	return parquetfile.ReadRows(f.Name(), cols, j.unit)
}

// committedIndex answers whether an object's ingest batch is committed,
// from the manifests of its Kafka partition (loaded once per run).
type committedIndex struct {
	store lake.Store
	byTP  map[string][]manifestRange
}

type manifestRange struct {
	From, To  int64
	Committed bool
}

func newCommitted(st lake.Store) *committedIndex {
	return &committedIndex{store: st, byTP: map[string][]manifestRange{}}
}

// has: objects silt did not name after offsets (earlier compactions) are
// committed by construction. An ingest object is committed when the
// manifest covering its first offset is, or when no manifest covers it
// but a later committed one exists (ingest prunes old committed ones).
func (c *committedIndex) has(ctx context.Context, key string) (bool, error) {
	src, ok := lake.ParseObjectKey(key)
	if !ok {
		return true, nil
	}
	tp := fmt.Sprintf("%s/%d", src.Topic, src.KafkaPartition)
	ranges, ok := c.byTP[tp]
	if !ok {
		var err error
		if ranges, err = c.load(ctx, src.Topic, src.KafkaPartition); err != nil {
			return false, err
		}
		c.byTP[tp] = ranges
	}
	later := false
	for _, r := range ranges {
		if r.From <= src.FirstOffset && src.FirstOffset <= r.To {
			return r.Committed, nil
		}
		if r.From > src.FirstOffset && r.Committed {
			later = true
		}
	}
	return later, nil
}

func (c *committedIndex) load(ctx context.Context, topic string, part int32) ([]manifestRange, error) {
	ms, err := lake.LoadBatchManifests(ctx, c.store, topic, part)
	if err != nil {
		return nil, err
	}
	out := make([]manifestRange, 0, len(ms))
	for _, m := range ms {
		out = append(out, manifestRange{From: m.From, To: m.To, Committed: m.Committed()})
	}
	return out, nil
}

// anyMissing reports whether any of keys is gone from the store.
func (j *Job) anyMissing(ctx context.Context, keys []string) (bool, error) {
	for _, key := range keys {
		_, err := j.store.Stat(ctx, key)
		if errors.Is(err, lake.ErrNotExist) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}
