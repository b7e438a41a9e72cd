package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// BatchStats is what one batch did.
type BatchStats struct {
	Events        int64            // records consumed (rows + dead letters + skipped)
	Rows          map[string]int64 // per table, excluding the dead-letter table
	DeadLetters   int64
	Skipped       int64 // records already in the lake (a committed manifest covered them)
	Files         int64
	BytesIn       int64
	BytesOut      int64
	Replayed      int // pinned batches redone after a crash
	Lag           int64
	Duration      time.Duration
	RegisterError string
}

// Counts flattens the stats for the run history.
func (s BatchStats) Counts() map[string]int64 {
	c := map[string]int64{
		"events": s.Events, "dead_letters": s.DeadLetters, "skipped": s.Skipped,
		"files": s.Files, "bytes_in": s.BytesIn, "bytes_out": s.BytesOut,
		"replayed": int64(s.Replayed), "lag": s.Lag,
	}
	for t, n := range s.Rows {
		c["rows."+t] = n
	}
	return c
}

// partState is a batch's view of one Kafka partition.
type partState struct {
	seg      segment
	man      *lake.BatchManifest // the range this batch writes (new or replayed); nil when only skipping
	previous []string            // objects a crashed attempt of a replayed manifest recorded
	written  []string            // objects this batch uploaded for man
	pos      int64               // next offset to expect
	done     bool                // man's range is complete: later records wait for the next batch
	commitTo int64               // offset to commit when the batch ends, -1 for none
	// ingestedAt is man's ingested_at in the writer's unit, set with the
	// partition's first row.
	ingestedAt    int64
	hasIngestedAt bool
}

type batch struct {
	j       *Job
	client  *kgo.Client
	started time.Time
	hwm     map[tp]int64
	parts0  int64 // partitions assigned at batch start, to split the batch bounds
	parts   map[tp]*partState
	files   *openFiles
	uploads uploads
	// rowsSinceMemoryCheck counts rows up to memoryCheckRows.
	rowsSinceMemoryCheck int
	dec                  *decoder
	// decodeChunks are the free chunks of the decode-ahead goroutine.
	decodeChunks chan *decodedChunk
	polled       []*kgo.Record // the last poll's records
	fields       []typed
	hours        map[int64]lake.Partition // hour since the epoch -> its partition strings
	layout       lake.Layout              // the partitions' directories (Options.Layout)
	// The events counter of the last record's topic: looking it up by
	// label hashes the topic name, per record.
	counterTopic  string
	eventsCounter prometheus.Counter
	changes       map[string]map[lake.Partition]bool
	stats         BatchStats
	// fresh is what the batch wrote per event table, for the freshness
	// series; freshTable's entry is kept at hand, as counterTopic's.
	fresh      map[string]*batchFreshness
	freshTable string
	freshCur   *batchFreshness
}

func (j *Job) newBatch(ctx context.Context, client *kgo.Client, started time.Time) (*batch, error) {
	hwm, err := highWatermarks(ctx, client, j.kafka.Topics)
	if err != nil {
		return nil, err
	}
	return &batch{
		j: j, client: client, started: started.UTC().Truncate(time.Millisecond), hwm: hwm,
		parts: map[tp]*partState{},
		files: newOpenFiles(fileLimits{
			targetBytes:   int64(j.cfg.TargetFileBytes),
			rowGroupBytes: int64(j.cfg.RowGroupBytes),
			maxOpen:       j.cfg.MaxOpenFiles,
			maxBuffered:   int64(j.cfg.MaxBufferedBytes),
			maxAge:        j.cfg.MaxFileAge,
		}),
		dec:          newDecoder(j.cfg.EventTypeField, j.cfg.TimeField).withDefaultTable(j.cfg.DefaultEventType).withLayout(j.cfg.Layout),
		decodeChunks: newDecodeChunks(),
		hours:        map[int64]lake.Partition{},
		layout:       j.cfg.Layout,
		changes:      map[string]map[lake.Partition]bool{},
		stats:        BatchStats{Rows: map[string]int64{}},
		fresh:        map[string]*batchFreshness{},
	}, nil
}

func highWatermarks(ctx context.Context, client *kgo.Client, topics []string) (map[tp]int64, error) {
	listed, err := kadmClient(client).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
	}
	out := map[tp]int64{}
	var errs []error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		out[tp{o.Topic, o.Partition}] = o.Offset
	})
	return out, errors.Join(errs...)
}

// A batch that has seen no records for idleEnd ends. Until this client has
// first joined its group, it waits for the join instead, up to max_wait: a
// one-shot `silt ingest --once` must not end before it could read anything.
const idleEnd = 1500 * time.Millisecond

// fetchMaxWait bounds a fetch's wait for new records, well under idleEnd
// (Job.connect).
const fetchMaxWait = 500 * time.Millisecond

func (b *batch) idleLimit() time.Duration {
	b.j.mu.Lock()
	joined := b.j.everAssigned
	b.j.mu.Unlock()
	if !joined {
		return b.j.cfg.MaxWait
	}
	return idleEnd
}

func (b *batch) run(ctx context.Context) (_ BatchStats, err error) {
	defer func() {
		if err != nil {
			// Uploads still running must end before the batch does: a
			// replay of its ranges writes the same keys next.
			_ = b.uploads.wait()
		}
	}()
	j := b.j
	deadline := b.started.Add(j.cfg.MaxWait)

	// Let any pending rebalance finish, then hold further ones off until
	// the batch commits: from here on this member's partitions are fixed.
	// (Before the first assignment there is nothing to protect, and blocking
	// would hold off the join itself.)
	joined := len(j.assignedPartitions()) > 0
	if joined {
		blockRebalances(b.client)
	}
	assigned := map[tp]bool{}
	for _, k := range j.assignedPartitions() {
		assigned[k] = true
	}
	b.parts0 = int64(max(len(assigned), 1))

	// Records fetched past the end of the last batch's ranges come first,
	// then the rest of those partitions, fetched again from there: resume
	// what the last batch paused (batch.stop; the client pauses nothing
	// else).
	if paused := b.client.PauseFetchPartitions(nil); len(paused) > 0 {
		b.client.ResumeFetchPartitions(paused)
	}
	j.mu.Lock()
	carried := j.leftovers
	j.leftovers = map[tp][]*kgo.Record{}
	j.mu.Unlock()
	for k, recs := range carried {
		if !assigned[k] {
			continue // revoked since: the new owner reads them from the committed offset
		}
		if err := b.records(ctx, recs); err != nil {
			return b.stats, err
		}
	}

	lastRecord := time.Now()
	for !b.finished() {
		if err := ctx.Err(); err != nil {
			return b.stats, err
		}
		if time.Now().After(deadline) {
			break // unfinished ranges end where reading stopped (see finish)
		}
		if j.draining.Load() && len(b.parts) == 0 {
			break
		}
		pollCtx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		fetches := b.client.PollRecords(pollCtx, 10_000)
		cancel()
		if fetches.IsClientClosed() {
			return b.stats, errors.New("kafka client closed")
		}
		if err := pollErr(fetches); err != nil {
			j.log.Warn("kafka fetch error; retrying", "err", err)
		}
		fetches.EachRecord(func(r *kgo.Record) { b.polled = append(b.polled, r) })
		if !joined {
			// Every poll blocks rebalances (BlockRebalanceOnPoll), the
			// first join included: until this member holds partitions it
			// holds nothing a rebalance could harm, so let the join finish
			// now rather than at the end of the batch, or a first
			// `silt ingest --once` would spend its batch waiting for it.
			if n := len(j.assignedPartitions()); n == 0 && len(b.polled) == 0 {
				b.client.AllowRebalance()
			} else {
				joined = true
				b.parts0 = int64(max(n, 1))
			}
		}
		err := b.records(ctx, b.polled)
		polled := len(b.polled)
		// Let go of the records once written: franz-go allocates a fetched
		// batch's records together and their values in one decompressed
		// buffer, so one *kgo.Record left in this slice (its spare
		// capacity included) would keep that whole batch alive.
		clear(b.polled)
		b.polled = b.polled[:0]
		if err != nil {
			return b.stats, err
		}
		if polled > 0 {
			lastRecord = time.Now()
		} else if time.Since(lastRecord) > b.idleLimit() {
			break
		}
		if err := b.closeExpired(ctx); err != nil {
			return b.stats, err
		}
	}
	return b.stats, b.finish(ctx)
}

// finished: every assigned partition has reached the high watermark seen
// at batch start, or the end of the range this batch pinned for it.
func (b *batch) finished() bool {
	assigned := b.j.assignedPartitions()
	if len(assigned) == 0 {
		return false
	}
	committed := b.client.CommittedOffsets()
	for _, k := range assigned {
		if ps := b.parts[k]; ps != nil {
			if ps.done || ps.pos >= b.hwm[k] {
				continue
			}
			return false
		}
		eo, ok := committed[k.topic][k.part]
		if !ok || eo.Offset < b.hwm[k] {
			return false
		}
	}
	return true
}

// part returns the state of a partition, loading its manifests on first sight.
func (b *batch) part(ctx context.Context, k tp) (*partState, error) {
	if ps, ok := b.parts[k]; ok {
		return ps, nil
	}
	b.j.mu.Lock()
	_, cached := b.j.manifests[k]
	b.j.mu.Unlock()
	if !cached {
		ms, err := lake.LoadBatchManifests(ctx, b.j.store, k.topic, k.part)
		if err != nil {
			return nil, err
		}
		b.j.mu.Lock()
		b.j.manifests[k] = ms
		b.j.mu.Unlock()
	}
	ps := &partState{commitTo: -1, pos: -1}
	b.parts[k] = ps
	return ps, nil
}

// decide chooses what to do with partition k's records from offset on.
// budget is how many records a partition's new range may plan: the batch
// bounds split evenly over the partitions, bytes through the average record
// size seen so far (before any batch: this first record's).
func (b *batch) budget(firstRecordBytes int) int64 {
	budget := int64(b.j.cfg.MaxRecords) / b.parts0
	avg := b.j.avgRecordBytes
	if avg == 0 {
		avg = int64(max(firstRecordBytes, 1))
	}
	return max(min(budget, int64(b.j.cfg.MaxBytes)/avg/b.parts0), 1)
}

func (b *batch) decide(ctx context.Context, k tp, ps *partState, r *kgo.Record) error {
	offset := r.Offset
	b.j.mu.Lock()
	ms := b.j.manifests[k]
	b.j.mu.Unlock()
	ps.seg = segmentAt(ms, offset)
	switch ps.seg.kind {
	case segSkip:
		ps.commitTo = ps.seg.m.To + 1
	case segReplay:
		m := *ps.seg.m
		ps.man, ps.previous = &m, slices.Clone(m.Objects)
		b.stats.Replayed++
		b.j.log.Info("replaying pinned batch", "topic", k.topic, "partition", k.part, "from", m.From, "to", m.To)
	case segNew:
		m := &lake.BatchManifest{
			Topic: k.topic, Partition: k.part, From: offset, To: planTo(offset, b.hwm[k], b.budget(len(r.Value))),
			State: lake.BatchPinned, IngestedAt: b.started, TargetFileBytes: int64(b.j.cfg.TargetFileBytes),
			PinnedAt: time.Now().UTC(),
		}
		if err := m.Save(ctx, b.j.store); err != nil {
			return err
		}
		b.j.mu.Lock()
		b.j.manifests[k] = append(b.j.manifests[k], m)
		b.j.mu.Unlock()
		ps.man = m
	}
	return nil
}

// stop ends partition k's part in this batch at the end of its range and
// pauses its fetching until the next batch. Unpaused, Kafka went on
// sending the partition's next records for as long as the other
// partitions took, and every one was held as a leftover: 262,000 records,
// over 100 MB with their fetched batches, at the end of a batch of 1.9M
// events, above the process's memory limit.
func (b *batch) stop(k tp, ps *partState) {
	ps.done = true
	b.client.PauseFetchPartitions(map[string][]int32{k.topic: {k.part}})
}

// leftover keeps r, past the end of its partition's range, for the next
// batch, which starts with it.
func (b *batch) leftover(k tp, r *kgo.Record) {
	b.j.mu.Lock()
	b.j.leftovers[k] = append(b.j.leftovers[k], r)
	b.j.mu.Unlock()
}

// record routes one Kafka record, decoded as d, into the batch.
func (b *batch) record(ctx context.Context, r *kgo.Record, d *decoded) error {
	k := tp{r.Topic, r.Partition}
	ps, err := b.part(ctx, k)
	if err != nil {
		return err
	}
	if ps.done {
		b.leftover(k, r)
		return nil
	}
	if ps.man == nil && (ps.seg.m == nil || r.Offset > ps.seg.m.To) {
		if err := b.decide(ctx, k, ps, r); err != nil {
			return err
		}
	}
	ps.pos = r.Offset + 1
	if ps.man == nil { // covered by a committed manifest
		b.stats.Skipped++
		return nil
	}
	if r.Offset > ps.man.To {
		b.stop(k, ps)
		b.leftover(k, r)
		return nil
	}
	if err := b.write(ctx, r, d, ps); err != nil {
		return err
	}
	if r.Offset == ps.man.To {
		b.stop(k, ps)
	}
	return nil
}

// write appends r, decoded as d, to its table's file, or the dead letters.
func (b *batch) write(ctx context.Context, r *kgo.Record, d *decoded, ps *partState) error {
	b.stats.Events++
	b.stats.BytesIn += int64(len(r.Value))
	if r.Topic != b.counterTopic {
		b.counterTopic, b.eventsCounter = r.Topic, b.j.metrics.events.WithLabelValues(r.Topic)
	}
	b.eventsCounter.Inc()
	b.j.metrics.bytesIn.Add(float64(len(r.Value)))
	if !ps.hasIngestedAt {
		ps.ingestedAt, ps.hasIngestedAt = b.j.unit.Of(ps.man.IngestedAt), true
	}

	ev, dl := d.ev, d.dl
	var t *table
	if dl == nil {
		var err error
		if t, err = b.j.table(ctx, ev.table); err != nil {
			return err
		}
		b.fields, dl = t.typeFields(&ev, b.j.unit, b.fields)
		if cols := newColumns(b.fields); dl == nil && len(cols) > 0 {
			// New columns are committed before a row uses them; then the
			// fields are typed again, as the committed schema says.
			if err := b.j.commitColumns(ctx, t, cols); err != nil {
				return err
			}
			b.fields, dl = t.typeFields(&ev, b.j.unit, b.fields)
			if cols := newColumns(b.fields); dl == nil && len(cols) > 0 {
				return fmt.Errorf("columns %v of %s are not in its committed schema", cols, ev.table)
			}
		}
	}
	if dl != nil {
		return b.writeDeadLetter(ctx, r, dl, ps)
	}
	p := b.partitionOf(ev.table, ev.eventTime)
	f, err := b.file(ctx, fileID{p, r.Topic, r.Partition}, t.schema, r)
	if err != nil {
		return err
	}
	row := eventRow{value: r.Value, fields: b.fields, eventTime: b.j.unit.Of(ev.eventTime), fromKafka: ev.fromKafka,
		topic: r.Topic, partition: int64(r.Partition), offset: r.Offset, ingested: ps.ingestedAt}
	row.writeTo(f.w)
	b.stats.Rows[ev.table]++
	if ev.table != b.freshTable || b.freshCur == nil {
		if b.freshCur = b.fresh[ev.table]; b.freshCur == nil {
			b.freshCur = &batchFreshness{}
			b.fresh[ev.table] = b.freshCur
		}
		b.freshTable = ev.table
	}
	b.freshCur.add(ev.eventTime, r.Timestamp)
	return b.endRow(ctx, f, r, ps)
}

func (b *batch) writeDeadLetter(ctx context.Context, r *kgo.Record, dl *deadLetter, ps *partState) error {
	raw, ok := validUTF8(r.Value)
	var exact any
	if !ok {
		exact = base64.StdEncoding.EncodeToString(r.Value)
	}
	reason := dl.Error()
	if !utf8.ValidString(reason) {
		reason, _ = validUTF8([]byte(reason))
	}
	b.stats.DeadLetters++
	b.j.metrics.deadLetters.WithLabelValues(dl.kind).Inc()
	p := b.partitionOf(lake.DeadLetterTable, r.Timestamp)
	f, err := b.file(ctx, fileID{p, r.Topic, r.Partition}, lake.TableSchema{Table: lake.DeadLetterTable}, r)
	if err != nil {
		return err
	}
	if err := f.w.Write([]any{b.j.unit.Of(r.Timestamp), r.Topic, int64(r.Partition), r.Offset, ps.ingestedAt, reason, raw, exact}, len(r.Value)); err != nil {
		return fmt.Errorf("write %s: %w", f.key, err)
	}
	return b.rowWritten(ctx, f, r, ps)
}

// partitionOf is Layout.PartitionOf with each hour's strings made once: a
// batch's events fall in few hours, and formatting dates per event showed
// in profiles.
func (b *batch) partitionOf(table string, t time.Time) lake.Partition {
	h := t.Unix() / 3600
	if t.Unix() < 0 && t.Unix()%3600 != 0 {
		h-- // round toward the earlier hour
	}
	p, ok := b.hours[h]
	if !ok {
		if len(b.hours) >= 10_000 { // events spread over more than a year of hours
			clear(b.hours)
		}
		p = b.layout.PartitionOf("", t)
		b.hours[h] = p
	}
	p.Table = table
	return p
}

// file is the open file for id, for a row of r with schema's columns. It
// opens the file (and, when the schema grew or the file set is full, first
// closes files) as needed.
func (b *batch) file(ctx context.Context, id fileID, schema lake.TableSchema, r *kgo.Record) (*parquetFile, error) {
	f := b.files.get(id)
	if f != nil && f.columns != schema.NumColumns() {
		if err := b.closeFile(ctx, id, "schema_grew"); err != nil {
			return nil, err
		}
		f = nil
	}
	if f != nil {
		return f, nil
	}
	if old, full := b.files.overLimit(); full {
		if err := b.closeFile(ctx, old, "memory_bound"); err != nil {
			return nil, err
		}
	}
	key := lake.ObjectKey(id.partition, id.topic, id.kpart, r.Offset)
	opts := parquetfile.Options{Unit: b.j.unit, RowGroupBytes: b.j.cfg.RowGroupBytes, ColumnIndexes: b.j.cfg.ColumnIndexes}
	f, err := openParquet(b.j.spoolDir(), key, id.partition, r.Offset, schema.AllColumns(), opts, time.Now())
	if err != nil {
		return nil, err
	}
	b.files.add(id, f)
	return f, nil
}

// endRow ends the row of r that was set in f's writer.
func (b *batch) endRow(ctx context.Context, f *parquetFile, r *kgo.Record, ps *partState) error {
	if err := f.w.EndRow(len(r.Value)); err != nil {
		return fmt.Errorf("write %s: %w", f.key, err)
	}
	return b.rowWritten(ctx, f, r, ps)
}

// rowWritten accounts for r's row in f, and closes f once it is big enough.
func (b *batch) rowWritten(ctx context.Context, f *parquetFile, r *kgo.Record, ps *partState) error {
	f.rows++
	f.lastOff = r.Offset
	f.inBytes += int64(len(r.Value))
	if ps.man.TargetFileBytes > 0 && f.inBytes >= ps.man.TargetFileBytes {
		return b.closeFile(ctx, fileID{f.partition, r.Topic, r.Partition}, "size")
	}
	// Open files grow with every row, not only when another opens: checked
	// only at opening, the bound held until the events' hour changed, and
	// 10M events into 24 open files peaked at 1.6 GB RSS.
	if b.rowsSinceMemoryCheck++; b.rowsSinceMemoryCheck >= memoryCheckRows {
		b.rowsSinceMemoryCheck = 0
		if old, over := b.files.overMemory(); over {
			return b.closeFile(ctx, old, "memory_bound")
		}
	}
	return nil
}

// memoryCheckRows is how often (in rows) a batch checks its open files
// against max_buffered_bytes: summing their memory per row showed in
// profiles, and a few thousand rows are a few MB.
const memoryCheckRows = 4096

func (b *batch) closeExpired(ctx context.Context) error {
	for _, id := range b.files.expired(time.Now()) {
		if err := b.closeFile(ctx, id, "age"); err != nil {
			return err
		}
	}
	return nil
}

// closeFile finishes a file and hands it to the batch's uploads. The object
// is recorded in its manifest's intent log before its upload starts, so
// that a crash at any point leaves nothing a replay cannot find; the file's
// columns were committed to the table's schema before its first row (see
// commitColumns). The batch goes on decoding and encoding while the upload
// runs; finish waits for every upload before it commits.
func (b *batch) closeFile(ctx context.Context, id fileID, reason string) error {
	f := b.files.get(id)
	b.files.remove(id)
	spool, size, err := f.w.Finish()
	if err != nil {
		f.w.Discard()
		return fmt.Errorf("close %s: %w", f.key, err)
	}
	ps := b.parts[tp{id.topic, id.kpart}]
	if !slices.Contains(ps.man.Objects, f.key) {
		ps.man.Objects = append(ps.man.Objects, f.key)
		if err := ps.man.Save(ctx, b.j.store); err != nil {
			f.w.Discard()
			return err
		}
	}
	// What the batch wrote counts only once finish has waited for the
	// uploads: a failed upload fails the batch, and nothing of it commits.
	ps.written = append(ps.written, f.key)
	if b.changes[id.partition.Table] == nil {
		b.changes[id.partition.Table] = map[lake.Partition]bool{}
	}
	b.changes[id.partition.Table][id.partition] = true
	b.stats.Files++
	b.stats.BytesOut += size
	return b.uploads.start(ctx, b.j.store, f.key, spool, size, f.w.Discard, func() {
		b.j.metrics.files.WithLabelValues(reason).Inc()
		b.j.metrics.bytesOut.Add(float64(size))
	})
}
