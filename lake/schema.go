package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
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

// PartitionColumns are the Hive partition keys of every table.
var PartitionColumns = []Column{{"dt", TypeVarchar}, {"hour", TypeVarchar}}

// IsSystemColumn reports whether name is taken by silt's own columns.
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
}

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

// SaveSchema writes a table's schema.
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
