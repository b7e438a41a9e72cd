package ingest

import (
	"unsafe"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// Positions of the system columns, in the order of lake.SystemColumns.
const (
	colEventTime = iota
	colEventTimeSource
	colKafkaTopic
	colKafkaPartition
	colKafkaOffset
	colIngestedAt
	colRawEvent
)

var (
	sourceEvent = []byte("event")
	sourceKafka = []byte("kafka")
)

// eventRow is one event's row: the system columns' values and the typed
// fields. The writer copies every byte, so value and the fields may view
// fetch and decoder buffers that are reused afterwards.
type eventRow struct {
	value     []byte
	fields    []typed
	eventTime int64
	fromKafka bool
	topic     string
	partition int64
	offset    int64
	ingested  int64
}

// writeTo sets the row's columns in w; the caller ends the row.
func (r *eventRow) writeTo(w *parquetfile.Writer) {
	w.Int64(colEventTime, r.eventTime)
	if r.fromKafka {
		w.String(colEventTimeSource, sourceKafka)
	} else {
		w.String(colEventTimeSource, sourceEvent)
	}
	w.String(colKafkaTopic, unsafe.Slice(unsafe.StringData(r.topic), len(r.topic)))
	w.Int64(colKafkaPartition, r.partition)
	w.Int64(colKafkaOffset, r.offset)
	w.Int64(colIngestedAt, r.ingested)
	w.String(colRawEvent, r.value)
	for i := range r.fields {
		f := &r.fields[i]
		if f.null {
			continue
		}
		col := len(lake.SystemColumns) + f.pos
		switch f.col.Type {
		case lake.TypeVarchar:
			w.String(col, f.text)
		case lake.TypeDouble:
			w.Double(col, f.float)
		case lake.TypeBoolean:
			w.Bool(col, f.bool)
		default: // bigint, timestamp
			w.Int64(col, f.int)
		}
	}
}
