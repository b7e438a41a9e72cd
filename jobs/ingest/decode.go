package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/silt-etl/silt/internal/ident"
	"github.com/silt-etl/silt/lake"
)

// Dead-letter reasons start with one of these words, so they can be counted
// by kind (the rest of the reason is the detail).
const (
	reasonNotJSON      = "not_json"
	reasonNotObject    = "not_object"
	reasonNoEventType  = "no_event_type"
	reasonBadEventType = "bad_event_type"
	reasonTypeConflict = "type_conflict"
	reasonUndeclared   = "undeclared_field"
	reasonDupField     = "duplicate_field"
)

// deadLetter is why a record could not be routed or typed.
type deadLetter struct {
	kind   string
	detail string
}

func (d *deadLetter) Error() string { return d.kind + ": " + d.detail }

func dead(kind, format string, args ...any) *deadLetter {
	return &deadLetter{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// field is one top-level field of an event, named as its column.
type field struct {
	column string
	value  *fastjson.Value
}

// event is a record that parsed as a routable JSON object.
type event struct {
	table     string
	eventTime time.Time
	fromKafka bool // eventTime is the Kafka record time
	fields    []field
	skipped   int // fields whose names do not normalize, kept only in raw_event
}

// decoder turns record values into events. It reuses its parser and
// buffers, so it is not safe for concurrent use, and an event is only valid
// until the next decode.
type decoder struct {
	typeField string
	timeField string
	// defaultTable takes events without typeField; "" makes them dead letters.
	defaultTable string
	parser       fastjson.Parser
	fields       []field
	names        map[string]string // field name -> column ("" when it does not normalize)
	slots        []keySlot         // the last key seen at each position of an object

	// layout's partition keys are reserved like the system columns.
	layout lake.Layout
}

// keySlot remembers the column of the key last seen at one position:
// events mostly repeat their keys in the same order, and comparing a few
// bytes is cheaper than hashing them into names.
type keySlot struct {
	key []byte
	col string
}

func newDecoder(typeField, timeField string) *decoder {
	return &decoder{typeField: typeField, timeField: timeField, names: map[string]string{}}
}

// withLayout reserves layout's partition keys: a field named like one
// (year, month, ...) is stored prefixed, as system columns are.
func (d *decoder) withLayout(layout lake.Layout) *decoder {
	d.layout = layout
	return d
}

// withDefaultTable routes events without the type field to table (an
// identifier, checked by the config) instead of the dead-letter table.
func (d *decoder) withDefaultTable(table string) *decoder {
	d.defaultTable = table
	return d
}

// decode parses value. recordTime is the Kafka record time, used when the
// event has no usable time field. The event is valid until the next decode.
func (d *decoder) decode(value []byte, recordTime time.Time) (event, *deadLetter) {
	ev, fields, dl := d.decodeWith(&d.parser, d.fields[:0], value, recordTime)
	d.fields = fields
	return ev, dl
}

// decodeWith is decode with the parser and field storage given: the event
// views them (its fields are appended to fields, which is returned), so it
// stays valid while p is not reused.
func (d *decoder) decodeWith(p *fastjson.Parser, fields []field, value []byte, recordTime time.Time) (event, []field, *deadLetter) {
	ev, dl := d.parse(p, &fields, value, recordTime)
	return ev, fields, dl
}

func (d *decoder) parse(p *fastjson.Parser, fields *[]field, value []byte, recordTime time.Time) (event, *deadLetter) {
	v, err := p.ParseBytes(value)
	if err != nil {
		return event{}, dead(reasonNotJSON, "%v", err)
	}
	obj, err := v.Object()
	if err != nil {
		return event{}, dead(reasonNotObject, "top level is a JSON %s, want an object", v.Type())
	}
	tv := obj.Get(d.typeField)
	var table string
	switch {
	case (tv == nil || tv.Type() == fastjson.TypeNull) && d.defaultTable != "":
		table = d.defaultTable
	case tv == nil || tv.Type() == fastjson.TypeNull:
		return event{}, dead(reasonNoEventType, "field %q is missing", d.typeField)
	case tv.Type() != fastjson.TypeString:
		return event{}, dead(reasonNoEventType, "field %q is a %s, want a string", d.typeField, tv.Type())
	default:
		raw := tv.GetStringBytes()
		var nerr error
		if table, nerr = ident.Normalize(string(raw)); nerr != nil {
			return event{}, dead(reasonBadEventType, "%s %s: %v", d.typeField, quoteShort(raw), nerr)
		}
	}

	ev := event{table: table}
	ev.eventTime, ev.fromKafka = eventTime(obj.Get(d.timeField), recordTime)

	first := len(*fields)
	var dup *deadLetter
	i := -1
	obj.Visit(func(key []byte, val *fastjson.Value) {
		i++
		if dup != nil || string(key) == d.typeField {
			return
		}
		col, ok := d.columnAt(i, key)
		if !ok {
			ev.skipped++
			return
		}
		// Events have few fields: a scan beats a map per event.
		for _, f := range (*fields)[first:] {
			if f.column == col {
				dup = dead(reasonDupField, "two fields map to column %s (one is %s)", col, quoteShort(key))
				return
			}
		}
		// Type unescapes a string value, once: here, on the decoding
		// goroutine, rather than when the batch types the field.
		val.Type()
		*fields = append(*fields, field{column: col, value: val})
	})
	if dup != nil {
		*fields = (*fields)[:first]
		return event{}, dup
	}
	ev.fields = (*fields)[first:len(*fields):len(*fields)]
	return ev, nil
}

// maxSlots bounds the positions remembered; keys further on are looked up.
const maxSlots = 256

// columnAt is column, for the key at position i of its object.
func (d *decoder) columnAt(i int, key []byte) (string, bool) {
	if i < len(d.slots) && bytes.Equal(d.slots[i].key, key) {
		col := d.slots[i].col
		return col, col != ""
	}
	col, ok := d.column(key)
	if i < maxSlots {
		for len(d.slots) <= i {
			d.slots = append(d.slots, keySlot{})
		}
		d.slots[i] = keySlot{key: append(d.slots[i].key[:0], key...), col: col}
	}
	return col, ok
}

// maxCachedNames bounds the field-name cache; events with ever-new field
// names (a user id as a key, say) must not grow memory without end.
const maxCachedNames = 4096

// column is the column of a field name, or ok false when the name does not
// normalize. Names repeat across events, so the answers are cached.
func (d *decoder) column(key []byte) (string, bool) {
	if col, ok := d.names[string(key)]; ok {
		return col, col != ""
	}
	col, err := ident.Normalize(string(key))
	if err != nil {
		col = ""
	} else if lake.IsSystemColumn(col) || d.layout.IsPartitionColumn(col) {
		// A field named like a system column (kafka_offset, dt, ...)
		// keeps its value under a prefixed column.
		col = "field_" + col
	}
	if len(d.names) >= maxCachedNames {
		clear(d.names)
	}
	d.names[string(key)] = col
	return col, col != ""
}

// eventTime reads the time field: RFC 3339, or epoch seconds or
// milliseconds (as a number or a numeric string). Anything else, or a time
// outside years 1970-9999, falls back to the record time.
func eventTime(v *fastjson.Value, recordTime time.Time) (time.Time, bool) {
	if v == nil {
		return recordTime, true
	}
	switch v.Type() {
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return plausible(t, recordTime)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return plausible(fromEpoch(f), recordTime)
		}
	case fastjson.TypeNumber:
		return plausible(fromEpoch(v.GetFloat64()), recordTime)
	}
	return recordTime, true
}

// fromEpoch takes seconds, or milliseconds when the number is too large to
// be seconds before the year 5138.
func fromEpoch(f float64) time.Time {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}
	}
	if math.Abs(f) >= 1e11 {
		return time.UnixMilli(int64(f))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

func plausible(t, fallback time.Time) (time.Time, bool) {
	if t.Year() < 1970 || t.Year() > 9999 {
		return fallback, true
	}
	return t, false
}

// quoteShort quotes at most 64 bytes of b for an error message.
func quoteShort(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "..."
	}
	return strconv.Quote(string(b))
}

// validUTF8 returns b as a string, replacing invalid UTF-8 so that a
// varchar column stays valid; ok is false when something was replaced.
func validUTF8(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return string(b), true
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), false
}
