// Package catalogtest writes small lakes for tests: Parquet objects in the
// layout ingest writes (system columns, INT64 millisecond timestamps, one
// object per table and partition), made by DuckDB rather than by silt's own
// writer so that tests of the catalog do not trust the code under test.
package catalogtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/marcboeker/go-duckdb" // the Parquet writer

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// Event is one row to write. Fields holds the event's own columns: string,
// float64, int64, bool, time.Time or nil.
type Event struct {
	Table  string
	Time   time.Time
	Fields map[string]any
	Offset int64 // the Kafka offset Write gave it
}

// Topic is the Kafka topic written rows claim to come from.
const Topic = "events"

// IngestedAt is the ingested_at of every written row.
var IngestedAt = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Write stores events as Parquet under the lake layout, one object per
// table and partition, numbering offsets from firstOffset in order; it
// saves the schemas and returns the catalog changes of this "batch".
func Write(ctx context.Context, store lake.Store, schemas []lake.TableSchema, events []Event, firstOffset int64) ([]catalog.Change, error) {
	return WriteLayout(ctx, store, lake.DtHour, schemas, events, firstOffset)
}

// WriteLayout is Write with the partition directories of layout.
func WriteLayout(ctx context.Context, store lake.Store, layout lake.Layout, schemas []lake.TableSchema, events []Event, firstOffset int64) ([]catalog.Change, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tmp, err := os.MkdirTemp("", "catalogtest-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	byTable := map[string]lake.TableSchema{}
	for _, s := range schemas {
		byTable[s.Table] = s
		if err := lake.SaveSchema(ctx, store, s); err != nil {
			return nil, err
		}
	}
	groups := map[lake.Partition][]*Event{}
	for i := range events {
		e := &events[i]
		e.Offset = firstOffset + int64(i)
		if _, ok := byTable[e.Table]; !ok {
			return nil, fmt.Errorf("event of table %s without a schema", e.Table)
		}
		p := layout.PartitionOf(e.Table, e.Time)
		groups[p] = append(groups[p], e)
	}
	parts := make([]lake.Partition, 0, len(groups))
	for p := range groups {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].String() < parts[j].String() })

	changed := map[string][]lake.Partition{}
	for n, p := range parts {
		rows := groups[p]
		s := byTable[p.Table]
		file := filepath.Join(tmp, strconv.Itoa(n)+".parquet")
		if _, err := db.ExecContext(ctx, copySQL(s, rows, file)); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		key := lake.ObjectKey(p, Topic, 0, rows[0].Offset)
		if err := store.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
			return nil, err
		}
		changed[p.Table] = append(changed[p.Table], p)
	}
	var out []catalog.Change
	for _, s := range schemas {
		if ps, ok := changed[s.Table]; ok {
			out = append(out, catalog.Change{Schema: s, Partitions: ps})
		}
	}
	return out, nil
}

var duckType = map[string]string{
	lake.TypeVarchar: "VARCHAR", lake.TypeDouble: "DOUBLE", lake.TypeBigint: "BIGINT",
	lake.TypeBoolean: "BOOLEAN", lake.TypeTimestamp: "TIMESTAMP_MS",
}

func copySQL(s lake.TableSchema, rows []*Event, file string) string {
	cols := s.AllColumns()
	var tuples []string
	for _, e := range rows {
		raw, _ := json.Marshal(e.Fields)
		vals := make([]string, len(cols))
		for i, c := range cols {
			var v any
			switch c.Name {
			case "event_time":
				v = e.Time
			case "event_time_source":
				v = "event"
			case "kafka_topic":
				v = Topic
			case "kafka_partition":
				v = int64(0)
			case "kafka_offset":
				v = e.Offset
			case "ingested_at":
				v = IngestedAt
			case "raw_event":
				v = string(raw)
			default:
				v = e.Fields[c.Name]
			}
			vals[i] = sqlLiteral(v)
		}
		tuples = append(tuples, "("+strings.Join(vals, ", ")+")")
	}
	names := make([]string, len(cols))
	casts := make([]string, len(cols))
	for i, c := range cols {
		names[i] = `"` + c.Name + `"`
		casts[i] = fmt.Sprintf(`CAST("%s" AS %s) AS "%s"`, c.Name, duckType[c.Type], c.Name)
	}
	return fmt.Sprintf("COPY (SELECT %s FROM (VALUES %s) AS v(%s)) TO '%s' (FORMAT PARQUET, COMPRESSION SNAPPY)",
		strings.Join(casts, ", "), strings.Join(tuples, ", "), strings.Join(names, ", "), file)
}

func sqlLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case float64:
		return "CAST('" + strconv.FormatFloat(x, 'g', -1, 64) + "' AS DOUBLE)"
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return "TIMESTAMP '" + x.UTC().Format("2006-01-02 15:04:05.000") + "'"
	}
	panic(fmt.Sprintf("catalogtest: unsupported value %T", v))
}

// Schemas are the tables Generate makes events for.
func Schemas() []lake.TableSchema {
	return []lake.TableSchema{
		{Table: "join_guild", Columns: []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "guild", Type: lake.TypeVarchar}}},
		{Table: "log", Columns: []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "level", Type: lake.TypeVarchar}, {Name: "message", Type: lake.TypeVarchar}}},
		{Table: "purchase_sword", Columns: []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "sword", Type: lake.TypeVarchar}, {Name: "price", Type: lake.TypeDouble}}},
	}
}

// Generate makes n events deterministically from seed, spread over span
// after start with millisecond times, over the tables of Schemas.
func Generate(seed uint64, n int, start time.Time, span time.Duration) []Event {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	hosts := []string{"game-1.example.com", "game-2.example.com", "game-3.example.com"}
	swords := []string{"excalibur", "katana", "rapier"}
	levels := []string{"INFO", "INFO", "WARN", "ERROR", "debug"}
	out := make([]Event, n)
	for i := range out {
		at := start.Add(time.Duration(rng.Int64N(int64(span/time.Millisecond))) * time.Millisecond).UTC()
		host := hosts[rng.IntN(len(hosts))]
		var e Event
		switch rng.IntN(3) {
		case 0:
			e = Event{Table: "purchase_sword", Fields: map[string]any{"host": host, "sword": swords[rng.IntN(len(swords))], "price": float64(rng.IntN(10_000)) / 100}}
		case 1:
			e = Event{Table: "join_guild", Fields: map[string]any{"host": host, "guild": fmt.Sprintf("guild-%02d", rng.IntN(5))}}
		default:
			e = Event{Table: "log", Fields: map[string]any{"host": host, "level": levels[rng.IntN(len(levels))], "message": fmt.Sprintf("line %d", i)}}
		}
		e.Time = at
		out[i] = e
	}
	return out
}
