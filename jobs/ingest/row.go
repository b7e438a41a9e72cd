package ingest

import (
	"unicode/utf8"
	"unsafe"

	"github.com/silt-etl/silt/lake"
)

// Values shared by many rows are boxed once: an interface holding a string
// or an int64 otherwise costs an allocation per row.
var (
	sourceEvent any = "event"
	sourceKafka any = "kafka"
)

// boxed is a topic name as a row value, boxed once per batch.
func (b *batch) boxed(topic string) any {
	v, ok := b.topics[topic]
	if !ok {
		v = topic
		b.topics[topic] = v
	}
	return v
}

// buildRow lays out one event's row: the system columns, then the fields
// at their column positions. raw_event and every varchar field share one
// allocation, copied out of the fetch and decoder buffers (a view of the
// fetch would keep whole fetches alive until the row is encoded).
func buildRow(cols int, value []byte, fields []typed, eventTime int64, source, topic any, partition, offset int64, ingestedAt any) []any {
	row := make([]any, cols)
	size := len(value)
	for _, f := range fields {
		if t, ok := f.value.(text); ok {
			size += len(t)
		}
	}
	arena := make([]byte, 0, size)
	row[0], row[1], row[2], row[3], row[4], row[5] = eventTime, source, topic, partition, offset, ingestedAt
	row[6], arena = arenaString(arena, value)
	for _, f := range fields {
		v := f.value
		if t, ok := v.(text); ok {
			v, arena = arenaString(arena, t)
		}
		row[len(lake.SystemColumns)+f.pos] = v
	}
	return row
}

// arenaString appends b to arena and returns it as a string viewing the
// arena; bytes that are not valid UTF-8 get a string of their own with
// the bad bytes replaced.
func arenaString(arena, b []byte) (string, []byte) {
	if len(b) == 0 {
		return "", arena
	}
	if !utf8.Valid(b) {
		s, _ := validUTF8(b)
		return s, arena
	}
	start := len(arena)
	arena = append(arena, b...)
	return unsafe.String(&arena[start], len(b)), arena
}
