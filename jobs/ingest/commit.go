package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// finish uploads what is open and waits for every upload, marks manifests
// committed, then commits the Kafka offsets: the order that makes a crash
// anywhere recoverable.
func (b *batch) finish(ctx context.Context) error {
	for _, f := range b.files.files {
		if err := f.w.EncodeBuffered(); err != nil {
			return fmt.Errorf("close %s: %w", f.key, err)
		}
	}
	if err := b.files.closeAll(ctx, func(ctx context.Context, id fileID) error {
		return b.closeFile(ctx, id, "batch_end")
	}); err != nil {
		return err
	}
	// Every object in the store before its manifest says committed.
	if err := b.uploads.wait(); err != nil {
		return err
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	now := time.Now().UTC()
	assigned := map[tp]bool{}
	for _, k := range b.j.assignedPartitions() {
		assigned[k] = true
	}
	for k, ps := range b.parts {
		if !assigned[k] {
			// Lost mid-batch (the group session expired): its range stays
			// pinned and the new owner replays it; committing here would
			// claim records this batch may not have read.
			return fmt.Errorf("partition %s/%d was lost during the batch; its pinned range is left to the new owner", k.topic, k.part)
		}
		if m := ps.man; m != nil && !ps.done && ps.pos <= m.To {
			// The range was planned to the high watermark, but offsets at
			// its end may never arrive as records (transaction markers,
			// compacted records) or the broker was slow: it ends at what
			// was read, and the next batch continues from there. Objects
			// only hold records read, so nothing is lost or doubled; a
			// crash before the commit replays the range as first pinned.
			b.j.log.Debug("range ends before its planned end", "topic", k.topic, "partition", k.part, "planned_to", m.To, "to", ps.pos-1)
			m.To = ps.pos - 1
		}
	}
	for k, ps := range b.parts {
		if m := ps.man; m != nil {
			for _, key := range staleObjects(ps.previous, ps.written) {
				if err := b.j.store.Delete(ctx, key); err != nil {
					return fmt.Errorf("delete stale object of replayed batch: %w", err)
				}
			}
			m.Objects, m.State, m.CommittedAt = ps.written, lake.BatchCommitted, &now
			if err := m.Save(ctx, b.j.store); err != nil {
				return err
			}
			b.j.mu.Lock()
			ms := b.j.manifests[k]
			for i := range ms {
				if ms[i].From == m.From {
					ms[i] = m
				}
			}
			b.j.mu.Unlock()
			ps.commitTo = m.To + 1
		}
		if ps.commitTo >= 0 {
			if offsets[k.topic] == nil {
				offsets[k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[k.topic][k.part] = kgo.EpochOffset{Epoch: -1, Offset: ps.commitTo}
		}
	}
	if len(offsets) > 0 {
		if err := commitOffsets(ctx, b.client, offsets); err != nil {
			return err
		}
	}
	for t, n := range b.stats.Rows {
		b.j.metrics.rows.WithLabelValues(t).Add(float64(n))
	}
	if b.stats.DeadLetters > 0 {
		b.j.metrics.rows.WithLabelValues(lake.DeadLetterTable).Add(float64(b.stats.DeadLetters))
	}
	b.recordLag(ctx)
	b.stats.Duration = time.Since(b.started)
	b.prune(ctx)
	return nil
}

// blockRebalances makes the client block rebalances as a poll that
// returned records does: a poll with a canceled context counts as one, and
// first waits out any rebalance already under way (franz-go gives
// rebalances priority over a new poll).
func blockRebalances(c *kgo.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.PollRecords(ctx, 1)
}

func commitOffsets(ctx context.Context, client *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset) error {
	var errs []error
	client.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil {
					errs = append(errs, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, perr))
				}
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("commit offsets (the lake already holds the data; the next batch skips it): %w", err)
	}
	return nil
}

// recordLag is the group's lag on its topics against the high watermarks
// seen at batch start: all partitions, not only this member's, so that
// "caught up" means the whole group is.
func (b *batch) recordLag(ctx context.Context) {
	committed, err := kadmClient(b.client).FetchOffsets(ctx, b.j.kafka.Group)
	if err != nil {
		b.j.log.Warn("fetch group offsets for lag", "err", err)
		b.stats.Lag = -1
		return
	}
	var total int64
	for k, end := range b.hwm {
		lag := end
		if o, ok := committed.Lookup(k.topic, k.part); ok && o.At >= 0 {
			lag = max(end-o.At, 0)
		}
		total += lag
		b.j.metrics.setLag(k, lag)
	}
	b.stats.Lag = total
}

// prune deletes old committed manifests; a few recent ones stay so a
// commit lost after them can still be recognised and skipped.
func (b *batch) prune(ctx context.Context) {
	for k := range b.parts {
		b.j.mu.Lock()
		old := pruneable(b.j.manifests[k], 3)
		b.j.mu.Unlock()
		for _, m := range old {
			if err := b.j.store.Delete(ctx, m.Key()); err != nil {
				b.j.log.Warn("prune manifest", "key", m.Key(), "err", err)
				return
			}
		}
		if len(old) > 0 {
			b.j.mu.Lock()
			b.j.manifests[k] = b.j.manifests[k][len(old):]
			b.j.mu.Unlock()
		}
	}
}

// catalogChanges is what this batch wrote, for the catalog: per table its
// partitions, and its objects with the Kafka ranges of the committed
// manifests they belong to (an Iceberg commit adds and records those).
func (b *batch) catalogChanges() []catalog.Change {
	objects := map[string][]string{}
	ranges := map[string][]catalog.KafkaRange{}
	for _, ps := range b.parts {
		m := ps.man
		if m == nil || !m.Committed() {
			continue
		}
		r := catalog.KafkaRange{Topic: m.Topic, Partition: m.Partition, From: m.From, To: m.To}
		for _, key := range m.Objects {
			src, ok := lake.ParseObjectKey(key)
			if !ok {
				continue
			}
			t := src.Partition.Table
			if len(objects[t]) == 0 || !slices.Contains(ranges[t], r) {
				ranges[t] = append(ranges[t], r)
			}
			objects[t] = append(objects[t], key)
		}
	}
	var out []catalog.Change
	for name, parts := range b.changes {
		ch := catalog.Change{Schema: lake.TableSchema{Table: name}, Objects: objects[name], Ranges: ranges[name]}
		slices.Sort(ch.Objects)
		if t := b.j.tables[name]; t != nil {
			ch.Schema = t.schema
		}
		for p := range parts {
			ch.Partitions = append(ch.Partitions, p)
		}
		slices.SortFunc(ch.Partitions, func(a, c lake.Partition) int {
			if a.String() < c.String() {
				return -1
			}
			return 1
		})
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, c catalog.Change) int {
		if a.Schema.Table < c.Schema.Table {
			return -1
		}
		return 1
	})
	return out
}
