package ingest

import (
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/silt-etl/silt/lake"
)

// table is the ingest-side state of one event table: its schema, what
// config declares, and a name→position index. The schema is always one
// the lake committed (columns only grow, and a column's first committed
// type is its type in every process): a new column is committed before
// any row uses it (see commitColumns), so no file is written with a
// column the schema file lacks or types differently.
type table struct {
	schema   lake.TableSchema
	declared map[string]string
	strict   bool
	index    map[string]int // column -> position in schema.Columns
	// slots remember the column of the field last seen at each position
	// of an event: events of a type mostly share their field order, and a
	// string compare (often of the same pointer) beats two map lookups.
	slots []fieldSlot
}

type fieldSlot struct {
	column string
	pos    int
}

func newTable(s lake.TableSchema, decl TableDecl) *table {
	t := &table{schema: s, declared: decl.Columns, strict: decl.Strict, index: map[string]int{}}
	for i, c := range s.Columns {
		t.index[c.Name] = i
	}
	return t
}

// typed is one field's value converted for its column: the member that
// the column's type selects holds it, unless null. Values are not boxed
// into interfaces: at a few fields per event, that was an allocation each.
type typed struct {
	pos   int // -1: a new column, appended by addColumns
	col   lake.Column
	null  bool
	text  []byte  // varchar: still in the decoder's buffer; the writer copies it
	float float64 // double
	int   int64   // bigint, and timestamp in the writer's unit
	bool  bool    // boolean
}

// typeFields converts ev's fields for this table's columns. Fields that are
// not columns yet come back with pos -1 and an inferred (or declared) type;
// a value that does not fit its column's type makes the event a dead letter.
func (t *table) typeFields(ev *event, unit lake.TimeUnit, out []typed) ([]typed, *deadLetter) {
	out = out[:0]
	for i, f := range ev.fields {
		var pos int
		var known bool
		if i < len(t.slots) && t.slots[i].column == f.column {
			pos, known = t.slots[i].pos, true
		} else if pos, known = t.index[f.column]; known && i < maxSlots {
			for len(t.slots) <= i {
				t.slots = append(t.slots, fieldSlot{pos: -1})
			}
			t.slots[i] = fieldSlot{f.column, pos}
		}
		var typ string
		switch {
		case known:
			typ = t.schema.Columns[pos].Type
		case t.declared[f.column] != "":
			typ, pos = t.declared[f.column], -1
		case t.strict:
			return nil, dead(reasonUndeclared, "field %s is not declared for table %s (strict)", f.column, t.schema.Table)
		default:
			typ, pos = inferType(f.value), -1
			if typ == "" { // null: no type to infer yet
				continue
			}
		}
		out = append(out, typed{pos: pos, col: lake.Column{Name: f.column, Type: typ}})
		if !convert(f.value, unit, &out[len(out)-1]) {
			return nil, dead(reasonTypeConflict, "column %s is %s, got JSON %s %s", f.column, typ, f.value.Type(), quoteShort(f.value.MarshalTo(nil)))
		}
	}
	return out, nil
}

// newColumns are the columns among fs that the table does not have yet,
// with their inferred or declared types.
func newColumns(fs []typed) []lake.Column {
	var out []lake.Column
	for i := range fs {
		if fs[i].pos < 0 {
			out = append(out, fs[i].col)
		}
	}
	return out
}

// adopt makes the table's schema the committed one s, which holds every
// column the table had, at the same positions and with the same types:
// columns are only appended (lake.UpdateSchema). Anything else means the
// schema file was rewritten behind silt's back; the batch fails and its
// replay starts from the lake's schema.
func (t *table) adopt(s lake.TableSchema) error {
	if len(s.Columns) < len(t.schema.Columns) {
		return fmt.Errorf("schema of %s lost columns in the lake (%d, this process has %d): the batch is retried with the lake's", t.schema.Table, len(s.Columns), len(t.schema.Columns))
	}
	for i, c := range t.schema.Columns {
		if s.Columns[i] != c {
			return fmt.Errorf("schema of %s changed in the lake: column %d is %s %s, this process has %s %s: the batch is retried with the lake's",
				t.schema.Table, i, s.Columns[i].Name, s.Columns[i].Type, c.Name, c.Type)
		}
	}
	for i := len(t.schema.Columns); i < len(s.Columns); i++ {
		t.index[s.Columns[i].Name] = i
	}
	t.schema = s
	return nil
}

// inferType is a JSON value's column type: JSON has one number type, so
// numbers are double unless config declares bigint; nested values are kept
// as their JSON text. Null infers nothing.
func inferType(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString, fastjson.TypeObject, fastjson.TypeArray:
		return lake.TypeVarchar
	case fastjson.TypeNumber:
		return lake.TypeDouble
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return lake.TypeBoolean
	}
	return ""
}

// convert fits v to out's column type. Varchar takes anything (non-strings
// as their JSON text); the others take only their own kind of value.
func convert(v *fastjson.Value, unit lake.TimeUnit, out *typed) bool {
	if v.Type() == fastjson.TypeNull {
		out.null = true
		return true
	}
	var err error
	switch out.col.Type {
	case lake.TypeVarchar:
		if v.Type() == fastjson.TypeString {
			out.text = v.GetStringBytes()
		} else {
			out.text = v.MarshalTo(nil)
		}
		return true
	case lake.TypeDouble:
		out.float, err = v.Float64()
		return err == nil
	case lake.TypeBigint:
		out.int, err = v.Int64()
		return err == nil
	case lake.TypeBoolean:
		out.bool, err = v.Bool()
		return err == nil
	case lake.TypeTimestamp:
		if t, fallback := eventTime(v, time.Time{}); !fallback {
			out.int = unit.Of(t)
			return true
		}
	}
	return false
}
