package iceberg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// repairAll commits to every table the objects of committed batches it
// does not hold. It reads the lake, not the manifests alone: ingest keeps
// only a partition's latest manifests, so an object is taken as committed
// when a committed manifest covers its first offset or when it is older
// than every manifest its Kafka partition still has (only committed ones
// are pruned). An object a pinned manifest covers belongs to a batch still
// running or to be replayed, and is left for that batch's own commit.
func (t *Tables) repairAll(ctx context.Context, progress func(catalog.RepairProgress)) error {
	if t.store == nil {
		return errors.New("repair Iceberg tables: no lake store")
	}
	names, err := lake.Tables(ctx, t.store)
	if err != nil {
		return fmt.Errorf("repair Iceberg tables: %w", err)
	}
	names = append(names, lake.DeadLetterTable)
	manifests := map[string][]*lake.BatchManifest{}
	type work struct {
		schema  lake.TableSchema
		objects []string
		ranges  []catalog.KafkaRange
	}
	var todo []work
	skipped := 0
	for _, name := range names {
		s := lake.TableSchema{Table: name}
		if name != lake.DeadLetterTable {
			var ok bool
			s, ok, err = lake.LoadSchema(ctx, t.store, name)
			if err != nil {
				return fmt.Errorf("repair Iceberg tables: %w", err)
			}
			if !ok {
				continue
			}
		}
		objs, err := t.store.List(ctx, lake.TablePrefix(name))
		if err != nil {
			return fmt.Errorf("repair Iceberg table %s: %w", name, err)
		}
		w := work{schema: s}
		spans := map[string]*catalog.KafkaRange{}
		for _, o := range objs {
			src, ok := lake.ParseObjectKey(o.Key)
			if !ok {
				if strings.HasSuffix(o.Key, ".parquet") {
					skipped++ // compacted by silt compact (Hive tables), or not silt's
				}
				continue
			}
			mk := rangeKey(src.Topic, src.KafkaPartition)
			ms, seen := manifests[mk]
			if !seen {
				ms, err = lake.LoadBatchManifests(ctx, t.store, src.Topic, src.KafkaPartition)
				if err != nil {
					return fmt.Errorf("repair Iceberg table %s: %w", name, err)
				}
				manifests[mk] = ms
			}
			if !committedObject(ms, src.FirstOffset) {
				continue
			}
			w.objects = append(w.objects, o.Key)
			r := spans[mk]
			if r == nil {
				r = &catalog.KafkaRange{Topic: src.Topic, Partition: src.KafkaPartition, From: src.FirstOffset, To: src.FirstOffset}
				spans[mk] = r
			}
			r.From, r.To = min(r.From, src.FirstOffset), max(r.To, src.FirstOffset)
		}
		if name == lake.DeadLetterTable && len(w.objects) == 0 {
			continue
		}
		for _, r := range spans {
			w.ranges = append(w.ranges, *r)
		}
		todo = append(todo, w)
	}
	if skipped > 0 {
		t.log.Warn("objects not named by ingest (compacted for Hive tables, or foreign) are not committed to Iceberg tables", "objects", skipped)
	}
	p := catalog.RepairProgress{TablesTotal: len(todo)}
	for _, w := range todo {
		p.PartitionsTotal += len(w.objects)
	}
	if progress != nil {
		progress(p)
	}
	for _, w := range todo {
		// A range of a repair spans the first offsets of the objects it
		// found; objects of other tables or pinned batches are never in
		// it (a pinned range comes after every committed one).
		if err := t.commit(ctx, w.schema, w.objects, w.ranges, true); err != nil {
			t.drop()
			return fmt.Errorf("repair Iceberg tables: %w", err)
		}
		p.Tables++
		p.Partitions += len(w.objects)
		if progress != nil {
			progress(p)
		}
	}
	t.repaired = true
	t.log.Info("iceberg tables repaired from the lake", "tables", len(todo))
	return nil
}

// committedObject says whether an object starting at offset belongs to a
// committed batch, given its Kafka partition's manifests (sorted by From).
func committedObject(ms []*lake.BatchManifest, offset int64) bool {
	for _, m := range ms {
		if m.From <= offset && offset <= m.To {
			return m.Committed()
		}
	}
	// Older than every manifest left: its manifest was pruned, which
	// happens to committed ones only. Newer than all: its manifest is not
	// readable yet; the batch's own commit adds it.
	return len(ms) > 0 && offset < ms[0].From
}

// latestMetadata is the newest metadata file in the table's location, ""
// when there is none: what register_table would be given by hand. Metadata
// files are numbered by commit (00042-<uuid>.metadata.json); of two with
// one number (a writer lost the race for it) the later written is taken.
// Either is a consistent table; the repair that follows adds whatever
// committed object the chosen one lacks.
func (t *Tables) latestMetadata(ctx context.Context, table string) (string, error) {
	dir := icebergDir + t.opts.Namespace + "/" + table + "/metadata/"
	objs, err := t.store.List(ctx, dir)
	if err != nil {
		return "", fmt.Errorf("list metadata of Iceberg table %s: %w", table, err)
	}
	best, bestSeq := lake.Object{}, int64(-1)
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, dir)
		if !strings.HasSuffix(name, ".metadata.json") || strings.Contains(name, "/") {
			continue
		}
		num, _, _ := strings.Cut(name, "-")
		seq, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		if seq > bestSeq || seq == bestSeq && o.Modified.After(best.Modified) {
			best, bestSeq = o, seq
		}
	}
	if bestSeq < 0 {
		return "", nil
	}
	return t.opts.Location + best.Key, nil
}
