package report

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/ident"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// WindowColumn is the column a report names each row's window by
// (window_start): the lake table partitions rows by it, and it leads a
// published record's key.
const WindowColumn = "window_start"

// Registrar is the catalog as the table sink sees it: told what a run
// wrote, as ingest tells it (a *catalog.Lazy or *catalog.Catalog).
type Registrar interface {
	Register(ctx context.Context, changes []catalog.Change) error
}

// TableOptions store a report job's rows in a lake table registered in
// the catalog like an ingest table: Snappy Parquet under
// <table>/dt=…/hour=…/ (or year=/month=/day=/hour=, lake.layout) by each
// row's window_start, the report's columns
// after silt's own (event_time is window_start again, event_time_source
// "report", ingested_at the run's time, raw_event the row as JSON; the
// Kafka columns are NULL).
//
// Each run writes one object per hour it covers, named after the job
// (report-<job>.parquet) and holding every window of that hour up to the
// run's end, and replaces it whole: a re-run of a window overwrites its
// rows, never adds to them. So a run with a table reports from the start
// of its start's hour.
type TableOptions struct {
	Name      string
	Store     lake.Store
	Registrar Registrar
	// Unit is the Parquet timestamp unit (ingest.timestamp_unit).
	Unit          lake.TimeUnit
	SpoolDir      string
	RowGroupBytes int64
	ColumnIndexes bool // parquetfile.Options.ColumnIndexes (ingest.column_indexes)
	// Layout names the table's partition directories (lake.layout), as
	// ingest writes its own.
	Layout lake.Layout
}

// reportObjectPrefix starts the name of every object a report job writes,
// so they are told apart from ingest's.
const reportObjectPrefix = "report-"

// tableObjectKey is the one object of job in partition p.
func tableObjectKey(p lake.Partition, job string) string {
	return p.Prefix() + reportObjectPrefix + job + ".parquet"
}

// columnType is the lake type of a normalised value; "" for NULL.
func columnType(v any) string {
	switch v.(type) {
	case string:
		return lake.TypeVarchar
	case int64:
		return lake.TypeBigint
	case float64:
		return lake.TypeDouble
	case bool:
		return lake.TypeBoolean
	case time.Time:
		return lake.TypeTimestamp
	}
	return ""
}

// engineType is the lake type of an engine's column type name (DuckDB's
// VARCHAR, DECIMAL(18,3), Trino's varchar(10), timestamp(3) …); "" when
// it has none.
func engineType(name string) string {
	n := strings.ToLower(name)
	if i := strings.IndexByte(n, '('); i >= 0 {
		n = n[:i]
	}
	switch strings.TrimSpace(n) {
	case "varchar", "char", "text", "string":
		return lake.TypeVarchar
	case "bigint", "integer", "int", "smallint", "tinyint", "hugeint", "ubigint", "uinteger", "usmallint", "utinyint":
		return lake.TypeBigint
	case "double", "real", "float", "decimal":
		return lake.TypeDouble
	case "boolean":
		return lake.TypeBoolean
	case "timestamp", "timestamp_ms", "timestamp_us", "timestamp_ns", "timestamp_s":
		return lake.TypeTimestamp
	}
	return ""
}

// tableColumns are the report's columns as the table's, typed as the
// engine types them (else by their first non-NULL value; varchar when
// every value is NULL), and the index of window_start (also the rows'
// event_time).
func tableColumns(res *Result, table string, layout lake.Layout) ([]lake.Column, int, error) {
	win := -1
	var cols []lake.Column
	for i, name := range res.Columns {
		if name == WindowColumn {
			win = i
		}
		if !ident.Valid(name) || lake.IsSystemColumn(name) || layout.IsPartitionColumn(name) {
			return nil, 0, fmt.Errorf("table %s: the report's column %q is not a column name or is one of silt's own (event_time, kafka_offset, the partition keys %s, …): rename it in the report's SELECT (… AS other_name)", table, name, strings.Join(layout.ColumnNames(), ", "))
		}
		typ := ""
		if i < len(res.Types) {
			typ = engineType(res.Types[i])
		}
		for _, row := range res.Rows {
			if typ != "" {
				break
			}
			typ = columnType(row[i])
		}
		if typ == "" {
			typ = lake.TypeVarchar
		}
		cols = append(cols, lake.Column{Name: name, Type: typ})
	}
	if win < 0 {
		return nil, 0, fmt.Errorf("table %s: the report returns no %s column: the table stores each row under its window, so the report must select one (e.g. {{window \"event_time\" .window}} AS window_start)", table, WindowColumn)
	}
	return cols, win, nil
}

// writeTable stores res's rows of windows starting at or after from (the
// start of the first hour the run covers whole) in o's table and
// registers it. It returns the rows written.
func writeTable(ctx context.Context, o *TableOptions, job string, res *Result, from, now time.Time) (int64, error) {
	if len(res.Rows) == 0 {
		return 0, nil // nothing to replace; and no types to commit from
	}
	cols, win, err := tableColumns(res, o.Name, o.Layout)
	if err != nil {
		return 0, err
	}
	if err := checkNotEventTable(ctx, o.Store, o.Name); err != nil {
		return 0, err
	}
	// Marked as job's output in the same write: every place meaning
	// "every event table" leaves it out by that mark.
	schema, err := lake.AddReportColumns(ctx, o.Store, o.Name, job, cols)
	if err != nil {
		return 0, fmt.Errorf("table %s: %w", o.Name, err)
	}
	byPart := map[lake.Partition][][]any{}
	for _, row := range res.Rows {
		t, ok := row[win].(time.Time)
		if !ok {
			return 0, fmt.Errorf("table %s: %s is %v, not a timestamp", o.Name, WindowColumn, row[win])
		}
		if t.Before(from) {
			continue // an hour this run does not cover whole
		}
		p := o.Layout.PartitionOf(o.Name, t)
		byPart[p] = append(byPart[p], row)
	}
	parts := make([]lake.Partition, 0, len(byPart))
	for p := range byPart {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Prefix() < parts[j].Prefix() })
	var written int64
	for _, p := range parts {
		if err := checkOwnPartition(ctx, o.Store, p); err != nil {
			return written, err
		}
		if err := putTableObject(ctx, o, tableObjectKey(p, job), schema, res, win, byPart[p], now); err != nil {
			return written, err
		}
		written += int64(len(byPart[p]))
	}
	if len(parts) > 0 {
		if err := o.Registrar.Register(ctx, []catalog.Change{{Schema: schema, Partitions: parts}}); err != nil {
			return written, fmt.Errorf("table %s: %w", o.Name, err)
		}
	}
	return written, nil
}

// checkNotEventTable refuses to mark a table as a report's that is not
// marked yet but holds objects no report wrote (an event type of that
// name): marking it would hide an event type. An unmarked table holding
// only report objects is a report table written before silt marked them,
// and is marked now. Once marked, it is not listed again.
func checkNotEventTable(ctx context.Context, st lake.Store, table string) error {
	s, ok, err := lake.LoadSchema(ctx, st, table)
	if err != nil {
		return fmt.Errorf("table %s: %w", table, err)
	}
	if !ok || s.IsReport() {
		return nil
	}
	objs, err := st.List(ctx, lake.TablePrefix(table))
	if err != nil {
		return fmt.Errorf("table %s: list: %w", table, err)
	}
	for _, o := range objs {
		name := o.Key[strings.LastIndex(o.Key, "/")+1:]
		if strings.HasSuffix(name, ".parquet") && !strings.HasPrefix(name, reportObjectPrefix) {
			return fmt.Errorf("table %s: it holds %s, which no report wrote: the table is an event type's or was compacted; give the job's table a name of its own (jobs[].table.name)", table, o.Key)
		}
	}
	return nil
}

// checkOwnPartition refuses a partition holding objects a report did not
// write (an event type of the same name, or a compaction's output): rows
// there would be mixed with, or duplicate, the report's.
func checkOwnPartition(ctx context.Context, st lake.Store, p lake.Partition) error {
	objs, err := st.List(ctx, p.Prefix())
	if err != nil {
		return fmt.Errorf("table %s: list %s: %w", p.Table, p, err)
	}
	for _, o := range objs {
		name := o.Key[strings.LastIndex(o.Key, "/")+1:]
		if strings.HasSuffix(name, ".parquet") && !strings.HasPrefix(name, reportObjectPrefix) {
			return fmt.Errorf("table %s: %s holds %s, which no report wrote: the table is an event type's or was compacted; give the job's table a name of its own (jobs[].table.name)", p.Table, p, name)
		}
	}
	return nil
}

// putTableObject writes rows as one Parquet object under key, replacing
// what a previous run wrote there.
func putTableObject(ctx context.Context, o *TableOptions, key string, schema lake.TableSchema, res *Result, win int, rows [][]any, now time.Time) error {
	all := schema.AllColumns()
	// Where each table column comes from in the report's row (-1: NULL).
	src := make([]int, len(all))
	for i, c := range all {
		src[i] = -1
		for j, name := range res.Columns {
			if name == c.Name {
				src[i] = j
			}
		}
	}
	w, err := parquetfile.NewWriter(spoolDir(o.SpoolDir), all, parquetfile.Options{Unit: o.Unit, RowGroupBytes: o.RowGroupBytes, ColumnIndexes: o.ColumnIndexes})
	if err != nil {
		return fmt.Errorf("table %s: %w", o.Name, err)
	}
	defer w.Discard()
	out := make([]any, len(all))
	for _, row := range rows {
		raw, err := rowJSON(res.Columns, row)
		if err != nil {
			return fmt.Errorf("table %s: %w", o.Name, err)
		}
		for i, c := range all {
			switch c.Name {
			case "event_time":
				out[i] = o.Unit.Of(row[win].(time.Time))
			case "event_time_source":
				out[i] = "report"
			case "ingested_at":
				out[i] = o.Unit.Of(now)
			case "raw_event":
				out[i] = string(raw)
			default:
				out[i] = nil
				if src[i] >= 0 {
					if out[i], err = tableValue(row[src[i]], c, o.Unit); err != nil {
						return fmt.Errorf("table %s: %w", o.Name, err)
					}
				}
			}
		}
		if err := w.Write(out, len(raw)); err != nil {
			return fmt.Errorf("table %s: %w", o.Name, err)
		}
	}
	f, size, err := w.Finish()
	if err != nil {
		return fmt.Errorf("table %s: %w", o.Name, err)
	}
	if err := o.Store.Put(ctx, key, f, size); err != nil {
		return fmt.Errorf("table %s: write %s: %w", o.Name, key, err)
	}
	return nil
}

func spoolDir(dir string) string {
	if dir == "" {
		return os.TempDir()
	}
	return dir
}

// tableValue is v as the Parquet writer takes it for column c, whose
// committed type wins: a whole number goes into a double column as a
// double; anything else that does not match is an error naming both.
func tableValue(v any, c lake.Column, unit lake.TimeUnit) (any, error) {
	if v == nil {
		return nil, nil
	}
	typ := columnType(v)
	switch {
	case typ == c.Type && typ == lake.TypeTimestamp:
		return unit.Of(v.(time.Time)), nil
	case typ == c.Type:
		return v, nil
	case typ == lake.TypeBigint && c.Type == lake.TypeDouble:
		return float64(v.(int64)), nil
	}
	return nil, fmt.Errorf("column %s is %s in the table, but the report gave %v (%s): keep the report's column types stable (CAST in the SELECT)", c.Name, c.Type, v, typ)
}
