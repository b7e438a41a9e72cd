package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hive"
	"github.com/apache/iceberg-go/table"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// RangesKey is the snapshot summary property that records the Kafka
// ranges a commit holds: "topic/partition/from-to,...", inclusive offsets.
// After a snapshot recording topic/partition/from-to, every object of a
// committed batch of that table whose first offset is in from..to is in
// the table (or was, until compaction or retention replaced it).
const RangesKey = "silt.kafka-ranges"

// commitAttempts bounds the rounds of read, compute and compare-and-swap
// one commit makes: each lost round means another writer committed to the
// table meanwhile.
const commitAttempts = 8

// commitBatch commits one batch's objects of one table.
func (t *Tables) commitBatch(ctx context.Context, ch catalog.Change) error {
	if len(ch.Objects) == 0 {
		return nil
	}
	if err := checkSchema(ch.Schema); err != nil {
		return err
	}
	return t.commit(ctx, ch.Schema, ch.Objects, ch.Ranges, false)
}

// commit adds to table s.Table those of objects (lake keys) it does not
// hold yet, in one commit recording ranges, after adding the columns s has
// and the table lacks. scanFiles also checks the table's current files
// (a repair: ranges recorded by expired snapshots are gone); a batch just
// committed needs only the ranges, which keeps a commit's cost independent
// of the table's size.
func (t *Tables) commit(ctx context.Context, s lake.TableSchema, objects []string, ranges []catalog.KafkaRange, scanFiles bool) error {
	cat, err := t.catalog(ctx)
	if err != nil {
		return err
	}
	var lastErr error
	for attempt := range commitAttempts {
		if attempt > 0 {
			wait := time.Duration(50<<min(attempt, 5)) * time.Millisecond
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), lastErr)
			case <-time.After(wait):
			}
		}
		tbl, err := t.ensureTable(ctx, cat, s)
		if err != nil {
			return err
		}
		add, err := t.missing(ctx, tbl, objects, scanFiles)
		if err != nil {
			return fmt.Errorf("read Iceberg table %s: %w", s.Table, err)
		}
		newCols, err := missingColumns(tbl.Schema(), s)
		if err != nil {
			return err
		}
		if len(add) == 0 && len(newCols) == 0 {
			return nil
		}
		started := time.Now()
		err = t.commitOnce(ctx, tbl, add, newCols, ranges)
		if err == nil {
			t.log.Info("iceberg commit", "table", s.Table, "files", len(add), "columns_added", len(newCols),
				"ranges", formatRanges(ranges), "took", time.Since(started).Round(time.Millisecond))
			return nil
		}
		// Whatever failed, the table is read again before the next round:
		// a commit that went through (its answer lost) is then recognised,
		// so retrying never commits twice.
		lastErr = err
		t.log.Info("iceberg commit lost a race or failed; re-reading the table", "table", s.Table, "attempt", attempt+1, "err", err)
	}
	return fmt.Errorf("commit to Iceberg table %s: %d attempts: %w", s.Table, commitAttempts, lastErr)
}

// commitOnce is one compare-and-swap: it fails if the table's current
// snapshot is no longer the one tbl was read at.
func (t *Tables) commitOnce(ctx context.Context, tbl *table.Table, add []string, newCols []lake.Column, ranges []catalog.KafkaRange) error {
	tx := tbl.NewTransaction()
	if err := tx.AssertRefSnapshotID(table.MainBranch); err != nil {
		return err
	}
	if len(newCols) > 0 {
		var opts []table.UpdateSchemaOption
		if nm := tbl.Metadata().NameMapping(); nm != nil {
			// Readers map silt's files, which carry no field ids, by
			// name: the mapping must name the new columns too.
			opts = append(opts, table.WithNameMapping(nm))
		}
		us := tx.UpdateSchema(true, false, opts...)
		for _, c := range newCols {
			us.AddColumn([]string{c.Name}, icebergType(c.Type), "", false, nil)
		}
		if err := us.Commit(); err != nil {
			return fmt.Errorf("add columns: %w", err)
		}
	}
	if len(add) > 0 {
		paths := make([]string, len(add))
		for i, k := range add {
			paths[i] = t.dataPath(k)
		}
		props := ice.Properties{RangesKey: formatRanges(ranges)}
		// Duplicates were ruled out by missing(); iceberg-go's own check
		// would read every manifest of the table on each commit.
		if err := tx.AddFiles(ctx, paths, props, true); err != nil {
			return fmt.Errorf("add files: %w", err)
		}
	}
	_, err := tx.Commit(ctx)
	return err
}

// missing is those of objects the table holds neither by a recorded range
// nor (with scanFiles) among its current data files.
func (t *Tables) missing(ctx context.Context, tbl *table.Table, objects []string, scanFiles bool) ([]string, error) {
	recorded := recordedRanges(tbl.Metadata())
	var have map[string]bool
	if scanFiles && tbl.CurrentSnapshot() != nil {
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			return nil, err
		}
		have = make(map[string]bool, len(tasks))
		for _, task := range tasks {
			have[task.File.FilePath()] = true
		}
	}
	var out []string
	for _, k := range objects {
		if src, ok := lake.ParseObjectKey(k); ok && recorded.cover(src.Topic, src.KafkaPartition, src.FirstOffset) {
			continue
		}
		if have[t.dataPath(k)] {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// ensureTable loads the table, creating it when missing: from its latest
// metadata in the lake if the metastore lost it, else empty.
func (t *Tables) ensureTable(ctx context.Context, cat *hive.Catalog, s lake.TableSchema) (*table.Table, error) {
	ident := table.Identifier{t.opts.Namespace, s.Table}
	tbl, err := cat.LoadTable(ctx, ident)
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, icecatalog.ErrNoSuchTable) {
		if strings.Contains(err.Error(), "is not an Iceberg table") {
			return nil, fmt.Errorf("%s.%s exists and is not an Iceberg table: silt never makes an Iceberg table over another; "+
				"set catalog.trino.schema to a schema that holds only silt's Iceberg tables", t.opts.Namespace, s.Table)
		}
		return nil, fmt.Errorf("load Iceberg table %s.%s: %w", t.opts.Namespace, s.Table, err)
	}
	meta, err := t.latestMetadata(ctx, s.Table)
	if err != nil {
		return nil, err
	}
	if meta != "" {
		tbl, err = cat.RegisterTable(ctx, ident, meta)
		if err == nil {
			t.log.Warn("iceberg table was missing from the metastore; registered its latest metadata from the lake", "table", s.Table, "metadata", meta)
			return tbl, nil
		}
	} else {
		tbl, err = cat.CreateTable(ctx, ident, newSchema(s),
			icecatalog.WithLocation(t.tableLocation(s.Table)),
			icecatalog.WithPartitionSpec(hourSpec()),
			icecatalog.WithProperties(tableProperties()))
		if err == nil {
			t.log.Info("iceberg table created", "table", s.Table, "location", t.tableLocation(s.Table))
			return tbl, nil
		}
	}
	// Another process created (or registered) it first: use theirs. The
	// metastore reports that race as "already exists" or as a duplicate
	// key, so whatever the error, the table is looked up again.
	if again, lerr := cat.LoadTable(ctx, ident); lerr == nil {
		return again, nil
	}
	return nil, fmt.Errorf("create Iceberg table %s.%s: %w", t.opts.Namespace, s.Table, err)
}

// tableProperties: format v2 Parquet, and old metadata files deleted as
// new ones are written (a table that commits every few seconds would
// otherwise keep every metadata file it ever had).
func tableProperties() ice.Properties {
	return ice.Properties{
		"format-version":                             "2",
		"write.format.default":                       "parquet",
		"write.parquet.compression-codec":            "snappy",
		"write.metadata.delete-after-commit.enabled": "true",
		"write.metadata.previous-versions-max":       "50",
	}
}

// newSchema is s as an Iceberg schema, every column optional (a JSON event
// may lack any field), in the lake's column order.
func newSchema(s lake.TableSchema) *ice.Schema {
	cols := s.AllColumns()
	fields := make([]ice.NestedField, len(cols))
	for i, c := range cols {
		fields[i] = ice.NestedField{ID: i + 1, Name: c.Name, Type: icebergType(c.Type), Required: false}
	}
	return ice.NewSchema(0, fields...)
}

// hourSpec partitions by hour(event_time). Iceberg refuses a day and an
// hour transform of one column in one spec (the hour determines the day),
// and Trino prunes a query on event_time's date through the hour
// partitions just the same. Each silt object holds one event-time hour, so
// iceberg-go reads its partition value from the column's bounds.
func hourSpec() *ice.PartitionSpec {
	spec := ice.NewPartitionSpec(ice.PartitionField{
		SourceIDs: []int{1}, FieldID: 1000, Name: "event_time_hour", Transform: ice.HourTransform{},
	})
	return &spec
}

// icebergType maps the lake's column types; lake.Column types are checked
// by checkSchema.
func icebergType(t string) ice.Type {
	switch t {
	case lake.TypeDouble:
		return ice.PrimitiveTypes.Float64
	case lake.TypeBigint:
		return ice.PrimitiveTypes.Int64
	case lake.TypeBoolean:
		return ice.PrimitiveTypes.Bool
	case lake.TypeTimestamp:
		return ice.PrimitiveTypes.Timestamp
	default:
		return ice.PrimitiveTypes.String
	}
}

func checkSchema(s lake.TableSchema) error {
	cols := s.AllColumns()
	if len(cols) == 0 || cols[0].Name != "event_time" {
		return fmt.Errorf("table %s: the first column must be event_time, the partition source", s.Table)
	}
	for _, c := range cols {
		switch c.Type {
		case lake.TypeVarchar, lake.TypeDouble, lake.TypeBigint, lake.TypeBoolean, lake.TypeTimestamp:
		default:
			return fmt.Errorf("table %s: column %s has type %q, which silt does not write", s.Table, c.Name, c.Type)
		}
	}
	return nil
}

// missingColumns is the lake columns the Iceberg table lacks. The lake's
// schema is the source of truth and only grows; a column of the same name
// and another type is an error (never a retype), a column only the table
// has (added by someone else) is left alone.
func missingColumns(have *ice.Schema, s lake.TableSchema) ([]lake.Column, error) {
	var out []lake.Column
	for _, c := range s.AllColumns() {
		f, ok := have.FindFieldByName(c.Name)
		if !ok {
			out = append(out, c)
			continue
		}
		if !f.Type.Equals(icebergType(c.Type)) {
			return nil, fmt.Errorf("iceberg table %s: column %s is %s, but %s in the lake's schema: silt never retypes a column; "+
				"drop the table from the catalog (the lake keeps the files) and run silt register --all", s.Table, c.Name, f.Type, c.Type)
		}
	}
	return out, nil
}

// ranges is the recorded offset ranges per topic/partition.
type ranges map[string][][2]int64

func rangeKey(topic string, part int32) string { return topic + "/" + strconv.Itoa(int(part)) }

func (r ranges) cover(topic string, part int32, offset int64) bool {
	for _, x := range r[rangeKey(topic, part)] {
		if x[0] <= offset && offset <= x[1] {
			return true
		}
	}
	return false
}

// recordedRanges reads RangesKey of every snapshot the table still has.
func recordedRanges(meta table.Metadata) ranges {
	out := ranges{}
	for _, s := range meta.Snapshots() {
		if s.Summary == nil {
			continue
		}
		for _, r := range parseRanges(s.Summary.Properties[RangesKey]) {
			k := rangeKey(r.Topic, r.Partition)
			out[k] = append(out[k], [2]int64{r.From, r.To})
		}
	}
	return out
}

func formatRanges(rs []catalog.KafkaRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s/%d/%d-%d", r.Topic, r.Partition, r.From, r.To)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// parseRanges reads formatRanges back; what does not parse is skipped (a
// summary silt did not write).
func parseRanges(s string) []catalog.KafkaRange {
	var out []catalog.KafkaRange
	for item := range strings.SplitSeq(s, ",") {
		i := strings.LastIndex(item, "/")
		j := strings.LastIndex(item[:max(i, 0)], "/")
		if i <= 0 || j <= 0 {
			continue
		}
		part, err1 := strconv.ParseInt(item[j+1:i], 10, 32)
		from, to, ok := strings.Cut(item[i+1:], "-")
		f, err2 := strconv.ParseInt(from, 10, 64)
		l, err3 := strconv.ParseInt(to, 10, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, catalog.KafkaRange{Topic: item[:j], Partition: int32(part), From: f, To: l})
	}
	return out
}
