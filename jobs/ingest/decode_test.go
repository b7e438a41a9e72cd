package ingest

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

var recordTime = time.Date(2026, 11, 22, 8, 30, 0, 0, time.UTC)

func TestDecodeRoutesAndNormalizes(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		table     string
		columns   []string
		fromKafka bool
		time      time.Time
		dead      string // reason kind, when the record is a dead letter
	}{
		{name: "game event with header fields", in: `{"event_type":"purchase_sword","timestamp":"2026-11-22T10:00:00Z","Host":"h","User-Agent":"ua","Accept":"*/*"}`,
			table: "purchase_sword", columns: []string{"timestamp", "host", "user_agent", "accept"}, time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)},
		{name: "event type normalized", in: `{"event_type":"Join-Guild"}`, table: "join_guild", fromKafka: true, time: recordTime},
		{name: "epoch seconds", in: `{"event_type":"a","timestamp":1763805600}`, table: "a", columns: []string{"timestamp"}, time: time.Unix(1763805600, 0)},
		{name: "epoch lake.Millis", in: `{"event_type":"a","timestamp":1763805600123}`, table: "a", columns: []string{"timestamp"}, time: time.UnixMilli(1763805600123)},
		{name: "epoch lake.Millis as string", in: `{"event_type":"a","timestamp":"1763805600123"}`, table: "a", columns: []string{"timestamp"}, time: time.UnixMilli(1763805600123)},
		{name: "unparseable time falls back to record time", in: `{"event_type":"a","timestamp":"yesterday"}`, table: "a", columns: []string{"timestamp"}, fromKafka: true, time: recordTime},
		{name: "implausible year falls back", in: `{"event_type":"a","timestamp":"0001-01-01T00:00:00Z"}`, table: "a", columns: []string{"timestamp"}, fromKafka: true, time: recordTime},
		{name: "system column names are prefixed", in: `{"event_type":"a","kafka_offset":1,"dt":"x"}`, table: "a", columns: []string{"field_kafka_offset", "field_dt"}, fromKafka: true, time: recordTime},
		{name: "unnormalizable field kept only in raw_event", in: `{"event_type":"a","$weird":1,"ok":2}`, table: "a", columns: []string{"ok"}, fromKafka: true, time: recordTime},
		{name: "not json", in: `{"event_type":`, dead: reasonNotJSON},
		{name: "empty", in: ``, dead: reasonNotJSON},
		{name: "array", in: `[{"event_type":"a"}]`, dead: reasonNotObject},
		{name: "missing type", in: `{"x":1}`, dead: reasonNoEventType},
		{name: "null type", in: `{"event_type":null}`, dead: reasonNoEventType},
		{name: "numeric type", in: `{"event_type":3}`, dead: reasonNoEventType},
		{name: "path traversal", in: `{"event_type":"../../x"}`, dead: reasonBadEventType},
		{name: "sql injection", in: `{"event_type":"a;DROP TABLE t"}`, dead: reasonBadEventType},
		{name: "leading digit", in: `{"event_type":"1a"}`, dead: reasonBadEventType},
		{name: "unicode", in: `{"event_type":"épée"}`, dead: reasonBadEventType},
		{name: "too long", in: `{"event_type":"` + string(make([]byte, 0)) + "a234567890123456789012345678901234567890123456789012345678901234" + `"}`, dead: reasonBadEventType},
		{name: "two fields, one column", in: `{"event_type":"a","User-Agent":"x","user_agent":"y"}`, dead: reasonDupField},
	}
	d := newDecoder("event_type", "timestamp")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, dl := d.decode([]byte(tt.in), recordTime)
			if tt.dead != "" {
				require.NotNil(t, dl)
				require.Equal(t, tt.dead, dl.kind, dl.Error())
				return
			}
			require.Nil(t, dl)
			require.Equal(t, tt.table, ev.table)
			var cols []string
			for _, f := range ev.fields {
				cols = append(cols, f.column)
			}
			require.Equal(t, tt.columns, cols)
			require.Equal(t, tt.fromKafka, ev.fromKafka)
			require.True(t, tt.time.Equal(ev.eventTime), "event time %s, want %s", ev.eventTime, tt.time)
		})
	}
}

func TestTypeFieldsInfersAndRejectsConflicts(t *testing.T) {
	d := newDecoder("event_type", "ts")
	tbl := newTable(lake.TableSchema{Table: "a"}, TableDecl{Columns: map[string]string{"n": "bigint", "at": "timestamp"}})

	ev, dl := d.decode([]byte(`{"event_type":"a","s":"x","f":1.5,"b":true,"o":{"k":[1]},"nul":null,"n":7,"at":"2026-01-02T03:04:05Z"}`), recordTime)
	require.Nil(t, dl)
	fs, dl := tbl.typeFields(&ev, lake.Millis, nil)
	require.Nil(t, dl)
	require.True(t, adoptNew(t, tbl, fs))
	require.Equal(t, []lake.Column{
		{Name: "s", Type: "varchar"}, {Name: "f", Type: "double"}, {Name: "b", Type: "boolean"},
		{Name: "o", Type: "varchar"}, {Name: "n", Type: "bigint"}, {Name: "at", Type: "timestamp"},
	}, tbl.schema.Columns, "null infers no column; nested values are JSON text")
	values := map[string]any{}
	for _, f := range fs {
		values[f.col.Name] = valueOf(f)
	}
	require.Equal(t, map[string]any{"s": "x", "f": 1.5, "b": true, "o": `{"k":[1]}`, "n": int64(7),
		"at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()}, values)

	conflicts := []string{
		`{"event_type":"a","f":"text"}`,   // double column, string value
		`{"event_type":"a","n":1.5}`,      // declared bigint, fraction
		`{"event_type":"a","b":"yes"}`,    // boolean column, string
		`{"event_type":"a","at":"never"}`, // declared timestamp, unparseable
	}
	for _, in := range conflicts {
		ev, dl := d.decode([]byte(in), recordTime)
		require.Nil(t, dl)
		_, dl = tbl.typeFields(&ev, lake.Millis, nil)
		require.NotNil(t, dl, in)
		require.Equal(t, reasonTypeConflict, dl.kind)
	}
	// Varchar takes any JSON value as its text; null fits every column.
	ev, _ = d.decode([]byte(`{"event_type":"a","s":12,"f":null}`), recordTime)
	fs, dl = tbl.typeFields(&ev, lake.Millis, nil)
	require.Nil(t, dl)
	require.Equal(t, "12", valueOf(fs[0]))
	require.Nil(t, valueOf(fs[1]))
	require.False(t, adoptNew(t, tbl, fs), "no new columns")

	strict := newTable(lake.TableSchema{Table: "a"}, TableDecl{Columns: map[string]string{"s": "varchar"}, Strict: true})
	ev, _ = d.decode([]byte(`{"event_type":"a","s":"x","extra":1}`), recordTime)
	_, dl = strict.typeFields(&ev, lake.Millis, nil)
	require.NotNil(t, dl)
	require.Equal(t, reasonUndeclared, dl.kind)
}

// adoptNew appends the new columns among fs to tbl's schema, as
// committing them to an empty lake would; it reports whether there were any.
func adoptNew(t *testing.T, tbl *table, fs []typed) bool {
	t.Helper()
	cols := newColumns(fs)
	s := tbl.schema
	s.Columns = append(slices.Clone(s.Columns), cols...)
	require.NoError(t, tbl.adopt(s))
	return len(cols) > 0
}

// adopt refuses a schema that does not extend the table's: it was
// rewritten behind silt's back.
func TestTableAdoptsOnlyAnExtendedSchema(t *testing.T) {
	tbl := newTable(lake.TableSchema{Table: "a", Columns: []lake.Column{{Name: "x", Type: "double"}}}, TableDecl{})
	require.Error(t, tbl.adopt(lake.TableSchema{Table: "a", Columns: []lake.Column{{Name: "x", Type: "varchar"}}}))
	require.Error(t, tbl.adopt(lake.TableSchema{Table: "a"}))
	require.NoError(t, tbl.adopt(lake.TableSchema{Table: "a", Columns: []lake.Column{{Name: "x", Type: "double"}, {Name: "y", Type: "boolean"}}}))
	require.Equal(t, 1, tbl.index["y"])
}

func TestSegmentAtDecidesReplaySkipOrNew(t *testing.T) {
	ms := []*lake.BatchManifest{
		{From: 0, To: 99, State: lake.BatchCommitted},
		{From: 100, To: 199, State: lake.BatchCommitted},
		{From: 200, To: 299, State: lake.BatchPinned},
	}
	tests := []struct {
		offset int64
		kind   segmentKind
		from   int64
	}{
		{0, segSkip, 0}, {50, segSkip, 0}, {100, segSkip, 100}, {199, segSkip, 100},
		{200, segReplay, 200}, {250, segReplay, 200}, {300, segNew, -1}, {1000, segNew, -1},
	}
	for _, tt := range tests {
		seg := segmentAt(ms, tt.offset)
		require.Equal(t, tt.kind, seg.kind, "offset %d", tt.offset)
		if tt.from >= 0 {
			require.Equal(t, tt.from, seg.m.From)
		}
	}
	require.Equal(t, segNew, segmentAt(nil, 5).kind)
}

func TestPlanToBoundsByWatermarkAndBudget(t *testing.T) {
	require.EqualValues(t, 99, planTo(0, 100, 1000))  // up to the high watermark
	require.EqualValues(t, 9, planTo(0, 100, 10))     // budget first
	require.EqualValues(t, 150, planTo(150, 100, 10)) // past the snapshot: just this record
	require.EqualValues(t, 99, planTo(0, 100, 0))     // no budget bound
}

func TestStaleObjectsAndPrune(t *testing.T) {
	require.Equal(t, []string{"b"}, staleObjects([]string{"a", "b", "c"}, []string{"a", "c", "d"}))
	require.Empty(t, staleObjects(nil, []string{"a"}))

	ms := []*lake.BatchManifest{{From: 0, State: lake.BatchCommitted}, {From: 1, State: lake.BatchCommitted}, {From: 2, State: lake.BatchCommitted}, {From: 3, State: lake.BatchPinned}}
	old := pruneable(ms, 2)
	require.Len(t, old, 1)
	require.EqualValues(t, 0, old[0].From)
	require.Empty(t, pruneable(ms, 3))
}

func TestLayoutKeysRoundTrip(t *testing.T) {
	p := lake.PartitionOf("purchase_sword", time.Date(2026, 11, 22, 7, 59, 59, 0, time.FixedZone("x", 3600)))
	require.Equal(t, "purchase_sword/dt=2026-11-22/hour=06/", p.Prefix(), "partitioned by UTC event time")
	key := lake.ObjectKey(p, "game-events", 3, 42)
	require.Equal(t, "purchase_sword/dt=2026-11-22/hour=06/game-events-p3-00000000000000000042.parquet", key)
	src, ok := lake.ParseObjectKey(key)
	require.True(t, ok)
	require.Equal(t, lake.ObjectSource{Partition: p, Topic: "game-events", KafkaPartition: 3, FirstOffset: 42}, src)
	_, ok = lake.ParseObjectKey("purchase_sword/dt=2026-11-22/hour=06/compacted.parquet")
	require.False(t, ok)
	require.Equal(t, "_silt/batches/game-events/3/00000000000000000042.json", lake.ManifestKey("game-events", 3, 42))
}

// valueOf is a typed field's value as the Go value its column holds.
func valueOf(f typed) any {
	switch {
	case f.null:
		return nil
	case f.col.Type == lake.TypeVarchar:
		return string(f.text)
	case f.col.Type == lake.TypeDouble:
		return f.float
	case f.col.Type == lake.TypeBoolean:
		return f.bool
	}
	return f.int
}

func TestEventRowCopiesStringsOutOfReusedBuffers(t *testing.T) {
	value := []byte(`{"event_type":"a","s":"héllo","bad":"x"}`)
	s := []byte("héllo")
	fields := []typed{
		{pos: 0, col: lake.Column{Name: "s", Type: lake.TypeVarchar}, text: s},
		{pos: 1, col: lake.Column{Name: "bad", Type: lake.TypeVarchar}, text: []byte{'o', 0xff, 'k'}},
		{pos: 2, col: lake.Column{Name: "f", Type: lake.TypeDouble}, float: 2.5},
		{pos: 3, col: lake.Column{Name: "n", Type: lake.TypeBigint}, null: true},
	}
	schema := lake.TableSchema{Table: "a"}
	for _, f := range fields {
		schema.Columns = append(schema.Columns, f.col)
	}
	dir := t.TempDir()
	w, err := parquetfile.NewWriter(dir, schema.AllColumns(), parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 20})
	require.NoError(t, err)
	defer w.Discard()
	row := eventRow{value: value, fields: fields, eventTime: 1, topic: "events", offset: 9, ingested: 5}
	row.writeTo(w)
	require.NoError(t, w.EndRow(len(value)))
	// Scribble over the inputs, as the fetch and decoder buffers are reused.
	for i := range value {
		value[i] = '#'
	}
	copy(s, "XXXXXX")
	rs, _, err := w.Finish()
	require.NoError(t, err)
	path := filepath.Join(dir, "row.parquet")
	raw, err := io.ReadAll(rs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	rows, err := parquetfile.ReadRows(path, schema.AllColumns(), lake.Millis)
	require.NoError(t, err)
	require.Equal(t, [][]any{{int64(1), "event", "events", int64(0), int64(9), int64(5),
		`{"event_type":"a","s":"héllo","bad":"x"}`, "héllo", "o\uFFFDk", 2.5, nil}}, rows)
}

func TestPartitionOfCachesHoursExactly(t *testing.T) {
	b := &batch{hours: map[int64]lake.Partition{}}
	base := time.Date(1969, 12, 31, 22, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Millisecond, time.Hour - time.Millisecond, time.Hour, 2*time.Hour - 1, 2 * time.Hour, 2*time.Hour + 1, 90 * time.Minute, 1000 * time.Hour} {
		at := base.Add(d)
		for _, tz := range []*time.Location{time.UTC, time.FixedZone("x", -5*3600)} {
			require.Equal(t, lake.PartitionOf("a", at), b.partitionOf("a", at.In(tz)), "%s", at)
			require.Equal(t, lake.PartitionOf("b", at), b.partitionOf("b", at), "%s, second table", at)
		}
	}
}
