package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/backoff"
)

// Column types, one vocabulary for Parquet, Hive/Trino and DuckDB.
const (
	TypeVarchar   = "varchar"
	TypeDouble    = "double"
	TypeBigint    = "bigint"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
)

// Column is one column of a table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// SystemColumns lead every event table, before the event's own fields.
var SystemColumns = []Column{
	{"event_time", TypeTimestamp},
	// event_time_source says where event_time came from: "event" (the
	// configured time field) or "kafka" (the record timestamp, because the
	// field was missing or unparseable).
	{"event_time_source", TypeVarchar},
	{"kafka_topic", TypeVarchar},
	{"kafka_partition", TypeBigint},
	{"kafka_offset", TypeBigint},
	{"ingested_at", TypeTimestamp},
	{"raw_event", TypeVarchar},
}

// DeadLetterColumns is the whole schema of the dead-letter table.
var DeadLetterColumns = []Column{
	{"event_time", TypeTimestamp},
	{"kafka_topic", TypeVarchar},
	{"kafka_partition", TypeBigint},
	{"kafka_offset", TypeBigint},
	{"ingested_at", TypeTimestamp},
	{"reason", TypeVarchar},
	// raw_event is the record as text; when it is not valid UTF-8 the bad
	// bytes are replaced there and raw_base64 holds the exact bytes.
	{"raw_event", TypeVarchar},
	{"raw_base64", TypeVarchar},
}

// PartitionColumns are the Hive partition keys of the default layout,
// DtHour; code that follows lake.layout uses Layout.Columns.
var PartitionColumns = []Column{{"dt", TypeVarchar}, {"hour", TypeVarchar}}

// IsSystemColumn reports whether name is taken by silt's own columns (dt
// and hour included in every layout; Layout.IsPartitionColumn adds the
// other keys of year_month_day_hour).
func IsSystemColumn(name string) bool {
	for _, c := range SystemColumns {
		if c.Name == name {
			return true
		}
	}
	return name == "dt" || name == "hour"
}

// TableSchema is a table's event columns (after the system columns), in
// the order they were first seen. Columns are only ever appended.
type TableSchema struct {
	Table   string   `json:"table"`
	Columns []Column `json:"columns"`
	// Report names the report job whose output the table stores (a
	// report job's table:); empty for an event type's table. It is what
	// tells a report's table from an event type's, where both have the
	// same system columns: "every event table" ({{events}}, the events
	// API, the watermark) leaves such tables out. Once set it is never
	// changed or cleared, so a reader may remember it.
	Report string `json:"report,omitempty"`
}

// IsReport reports whether the table is a report's output, not an event
// type.
func (s TableSchema) IsReport() bool { return s.Report != "" }

// AllColumns is the full column list as written to Parquet.
func (s TableSchema) AllColumns() []Column {
	if s.Table == DeadLetterTable {
		return DeadLetterColumns
	}
	return append(append([]Column{}, SystemColumns...), s.Columns...)
}

// NumColumns is len(AllColumns()), without building the list.
func (s TableSchema) NumColumns() int {
	if s.Table == DeadLetterTable {
		return len(DeadLetterColumns)
	}
	return len(SystemColumns) + len(s.Columns)
}

// Index finds a column by name, -1 when absent.
func (s TableSchema) Index(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// LoadSchema reads a table's schema; a table never written has none (ok false).
func LoadSchema(ctx context.Context, st Store, table string) (TableSchema, bool, error) {
	raw, err := ReadAll(ctx, st, SchemaKey(table))
	if errors.Is(err, ErrNotExist) {
		return TableSchema{Table: table}, false, nil
	}
	if err != nil {
		return TableSchema{}, false, fmt.Errorf("load schema of %s: %w", table, err)
	}
	var s TableSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		return TableSchema{}, false, fmt.Errorf("load schema of %s: %w", table, err)
	}
	return s, true, nil
}

// SaveSchema writes a table's schema unconditionally, over whatever is
// there: for tests and tools that set up a lake. Anything that may run
// beside another silt process changes schemas with UpdateSchema.
func SaveSchema(ctx context.Context, st Store, s TableSchema) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := st.Put(ctx, SchemaKey(s.Table), bytes.NewReader(raw), int64(len(raw))); err != nil {
		return fmt.Errorf("save schema of %s: %w", s.Table, err)
	}
	return nil
}

// Tables lists the tables that have a schema, sorted.
func Tables(ctx context.Context, st Store) ([]string, error) {
	objs, err := st.List(ctx, MetaPrefix+"schemas/")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []string
	for _, o := range objs {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, MetaPrefix+"schemas/"), ".json")
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// Partitions lists the partitions of a table that hold at least one object.
func Partitions(ctx context.Context, st Store, table string) ([]Partition, error) {
	objs, err := st.List(ctx, TablePrefix(table))
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	seen := map[Partition]bool{}
	var out []Partition
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		p, ok := ParsePartitionPrefix(o.Key)
		if ok && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// schemaAttempts bounds UpdateSchema's read-change-write rounds: each lost
// round means another process committed a change meanwhile, so losing
// this many in a row means the schema is changing faster than it can be
// read and written.
var schemaAttempts = 12

// UpdateSchema changes a table's committed schema, safely beside other
// processes: it reads the schema file with its version, asks change for
// the schema to commit, and writes it only if the file is still as read
// (Create for the first schema, else Replace). When another process
// committed in between, it reads again and asks change again: a lost
// race re-reads, never overwrites. It returns the schema committed (the
// one read, when change asks for no change).
//
// Columns are only ever appended, and a committed column's type is never
// changed: the first committed type of a column wins, for every process.
// A change that drops, reorders or retypes a committed column is refused.
func UpdateSchema(ctx context.Context, st Store, table string, change func(committed TableSchema) (TableSchema, error)) (TableSchema, error) {
	key := SchemaKey(table)
	var lost error
	for attempt := 1; attempt <= schemaAttempts; attempt++ {
		raw, v, err := st.GetVersion(ctx, key)
		exists := err == nil
		committed := TableSchema{Table: table}
		switch {
		case errors.Is(err, ErrNotExist):
		case err != nil:
			return TableSchema{}, fmt.Errorf("load schema of %s: %w", table, err)
		default:
			if err := json.Unmarshal(raw, &committed); err != nil {
				return TableSchema{}, fmt.Errorf("load schema of %s: %w", table, err)
			}
			committed.Table = table
		}
		next, err := change(committed)
		if err != nil {
			return TableSchema{}, err
		}
		next.Table = table
		if err := checkAppendOnly(committed, next); err != nil {
			return TableSchema{}, err
		}
		if exists && len(next.Columns) == len(committed.Columns) && next.Report == committed.Report {
			return committed, nil
		}
		out, err := json.MarshalIndent(next, "", "  ")
		if err != nil {
			return TableSchema{}, err
		}
		if exists {
			_, err = st.Replace(ctx, key, out, v)
		} else {
			_, err = st.Create(ctx, key, out)
		}
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrPreconditionFailed) {
			return TableSchema{}, fmt.Errorf("save schema of %s: %w", table, err)
		}
		lost = err
		// Another process committed first: back off a little (with
		// jitter, so that racing processes spread out) and read again.
		if err := backoff.Sleep(ctx, 2*time.Millisecond, 100*time.Millisecond, attempt-1); err != nil {
			return TableSchema{}, fmt.Errorf("save schema of %s: %w", table, err)
		}
	}
	return TableSchema{}, fmt.Errorf("save schema of %s: other processes changed it %d times in a row while this one tried to; giving up for now (the batch is retried): %w",
		table, schemaAttempts, lost)
}

// AddColumns commits cols to a table's schema: each column the committed
// schema lacks is appended; one it has keeps its committed type, whatever
// cols says. It returns the committed schema, which the caller adopts:
// its types are the ones to write.
func AddColumns(ctx context.Context, st Store, table string, cols []Column) (TableSchema, error) {
	return UpdateSchema(ctx, st, table, func(committed TableSchema) (TableSchema, error) {
		return withColumns(committed, cols), nil
	})
}

// AddReportColumns is AddColumns for a report job's table: in the same
// conditional write it marks the table as the output of job (Report),
// unless it is marked already (by job or another report job sharing the
// table; the first mark stays).
func AddReportColumns(ctx context.Context, st Store, table, job string, cols []Column) (TableSchema, error) {
	if job == "" {
		return TableSchema{}, fmt.Errorf("schema of %s: a report table needs the report job's name", table)
	}
	return UpdateSchema(ctx, st, table, func(committed TableSchema) (TableSchema, error) {
		next := withColumns(committed, cols)
		if next.Report == "" {
			next.Report = job
		}
		return next, nil
	})
}

// withColumns is committed with each of cols it lacks appended.
func withColumns(committed TableSchema, cols []Column) TableSchema {
	next := committed
	next.Columns = slices.Clone(committed.Columns)
	for _, c := range cols {
		if next.Index(c.Name) < 0 {
			next.Columns = append(next.Columns, c)
		}
	}
	return next
}

// checkAppendOnly refuses a schema change that is not appending columns
// (or marking an unmarked table as a report's).
func checkAppendOnly(committed, next TableSchema) error {
	if committed.Report != "" && next.Report != committed.Report {
		return fmt.Errorf("schema of %s: the table is report job %s's output; a change may not unmark it or hand it to %q", committed.Table, committed.Report, next.Report)
	}
	if len(next.Columns) < len(committed.Columns) {
		return fmt.Errorf("schema of %s: a change may not drop columns (%d committed, %d after)", committed.Table, len(committed.Columns), len(next.Columns))
	}
	seen := map[string]bool{}
	for i, c := range next.Columns {
		if i < len(committed.Columns) && c != committed.Columns[i] {
			return fmt.Errorf("schema of %s: a change may not retype or reorder committed column %s %s (to %s %s)",
				committed.Table, committed.Columns[i].Name, committed.Columns[i].Type, c.Name, c.Type)
		}
		if seen[c.Name] {
			return fmt.Errorf("schema of %s: column %s twice", committed.Table, c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}
