// Package parquetfile writes the Snappy Parquet files of silt's lake (ingest
// and compaction write through it) and reads them back for compaction.
//
// The writer owns the file's layout: pages (PLAIN or dictionary-encoded),
// column chunks and their statistics, page indexes, footer. It uses
// github.com/xitongsys/parquet-go for the Parquet format's Thrift
// structures and for reading; parquet-go's own writer path boxes every
// value into an interface and gets the page indexes wrong (see layout.go).
package parquetfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/xitongsys/parquet-go/parquet"

	"github.com/silt-etl/silt/internal/version"
	"github.com/silt-etl/silt/lake"
)

// roundInputBytes is how much input a writer gathers before handing its
// columns to an encoding (a round), which adds them to each column's open
// page: both sets of column buffers hold about this much.
const roundInputBytes = 256 << 10

// A column's page is cut once its values and levels reach DefaultPageBytes
// (Options.PageBytes), uncompressed, or DefaultPageRows rows
// (Options.PageRows; parquet-java's default row limit): a column of small
// or repeating values gathers many rounds into one page, one of large
// values gets a page a round. A page
// per column per round made pages of ~900 rows on every column, and Trino
// spent 2.9x its own files' time on GROUP BY host (see README).
const (
	DefaultPageBytes = 256 << 10
	DefaultPageRows  = 20_000
)

// encodeSlots bounds the encodings running beside the caller's goroutine:
// one per spare core, so decoding and encoding overlap without unbounded
// memory in flight.
var encodeSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))

// Options are a file's layout choices.
type Options struct {
	Unit          lake.TimeUnit // of every timestamp column
	RowGroupBytes int64         // encoded bytes at which a row group ends
	// MaxDictionaryBytes bounds each column chunk's dictionary (see
	// DefaultMaxDictionaryBytes, used when 0); negative writes every page
	// PLAIN.
	MaxDictionaryBytes int
	// CreatedBy names the writer in the footer; version.String() when "".
	CreatedBy string
	// PageBytes is a column page's size, uncompressed, at which it is cut;
	// DefaultPageBytes when 0. Open pages are held until cut (see Memory).
	PageBytes int64
	// PageRows is the row count at which a column page is cut;
	// DefaultPageRows when 0.
	PageRows int
	// ColumnIndexes writes a column index (each page's min, max and null
	// flag) for every chunk whose index can skip a page its statistics
	// cannot (see indexPrunes); every chunk has its offset index either
	// way. Off by default: parquet-java and Spark skip pages by them, but
	// Trino 476 and DuckDB skip none, and Trino pays for them on every
	// predicate query: once any chunk of a row group has a column index it
	// reads the predicate columns' offset indexes, one more ranged read per
	// row group (count(*) WHERE host = took 1.2-1.4x the CPU of Trino's own
	// files with them, 0.99x without; README, "Parquet written by silt").
	ColumnIndexes bool
}

// Writer writes one Snappy Parquet object into a local spool file,
// so memory holds only the current row group; Finish hands the file over
// for upload.
//
// Values go straight into per-column buffers, already PLAIN-encoded, and
// are added to each column's open page on a background goroutine (one
// encoding per writer at a time, in row order), dictionary-encoded while
// the column chunk's dictionary pays and stays under its bound; a page is
// cut at Options.PageBytes or Options.PageRows.
// Pages are held until their row group is complete, then written column by
// column, each chunk's dictionary page first.
//
// A row is written with one setter call per non-NULL column (Int64,
// Double, Bool, String; timestamps are Int64 in the writer's unit) and
// then EndRow; columns not set are NULL. A writer is used by one goroutine.
type Writer struct {
	spool *os.File
	file  fileLayout     // what is written to spool; owned by the encoding goroutine
	cols  []columnBuffer // rows not handed to an encoding yet
	spare []columnBuffer // buffers of the previous encoding, for reuse
	meta  []columnMeta
	rows  int   // rows in cols
	input int64 // input bytes of the rows in cols
	err   error // a misuse of the setters, reported by EndRow

	encoding  chan struct{} // closed when the running encoding ends; nil when none runs
	encodeErr error
	// otherBuffers is the capacity of the buffer set not in cols: the rows
	// of the running encoding, then, once it ends, the spare set. Both sets
	// stay allocated for the writer's life.
	otherBuffers int64
	// laidOut is what the file layout holds (see fileLayout.memory), as of
	// the last encoding's end.
	laidOut atomic.Int64
}

type valueKind uint8

const (
	kindInt64 valueKind = iota
	kindDouble
	kindBool
	kindString
)

// columnMeta is a column as the file declares it.
type columnMeta struct {
	name   string
	kind   valueKind
	schema *parquet.SchemaElement
}

// columnBuffer holds one column's values for the rows not yet encoded.
type columnBuffer struct {
	levels []byte // definition level of each row: 1 a value, 0 NULL
	plain  []byte // the non-NULL values, PLAIN-encoded (booleans: one byte each, packed at encoding)
	nulls  int64

	// Statistics of the non-NULL values, when hasMinMax.
	hasMinMax  bool
	minI, maxI int64
	minF, maxF float64
	minS, maxS []byte
}

func (c *columnBuffer) reset() {
	*c = columnBuffer{levels: c.levels[:0], plain: c.plain[:0], minS: c.minS[:0], maxS: c.maxS[:0]}
}

// capacity is the memory the buffer holds, used or not: its slices are
// reused from encoding to encoding, so they stay at their largest.
func (c *columnBuffer) capacity() int64 {
	return int64(cap(c.levels) + cap(c.plain) + cap(c.minS) + cap(c.maxS))
}

// NewWriter starts a file with the given columns in a spool file in dir.
func NewWriter(dir string, cols []lake.Column, opts Options) (*Writer, error) {
	if opts.MaxDictionaryBytes == 0 {
		opts.MaxDictionaryBytes = DefaultMaxDictionaryBytes
	}
	if opts.CreatedBy == "" {
		opts.CreatedBy = version.String()
	}
	if opts.PageRows <= 0 {
		opts.PageRows = DefaultPageRows
	}
	if opts.PageBytes <= 0 {
		opts.PageBytes = DefaultPageBytes
	}
	meta := make([]columnMeta, len(cols))
	for i, c := range cols {
		el, err := schemaElement(c, opts.Unit)
		if err != nil {
			return nil, err
		}
		meta[i] = columnMeta{name: c.Name, kind: kindOf(c.Type), schema: el}
	}
	spool, err := os.CreateTemp(dir, "silt-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("spool parquet: %w", err)
	}
	w := &Writer{spool: spool, cols: make([]columnBuffer, len(cols)), spare: make([]columnBuffer, len(cols)), meta: meta}
	w.file = newFileLayout(spool, meta, opts)
	if err := w.file.start(); err != nil {
		w.Discard()
		return nil, err
	}
	w.laidOut.Store(w.file.memory())
	return w, nil
}

func kindOf(typ string) valueKind {
	switch typ {
	case lake.TypeDouble:
		return kindDouble
	case lake.TypeBoolean:
		return kindBool
	case lake.TypeVarchar:
		return kindString
	}
	return kindInt64 // bigint, timestamp
}

// value checks that column col takes a kind of value and has none yet in
// this row.
func (w *Writer) value(col int, kind valueKind) *columnBuffer {
	c := &w.cols[col]
	if w.meta[col].kind != kind || len(c.levels) != w.rows {
		if w.err == nil {
			w.err = fmt.Errorf("parquet column %s: wrong type of value, or two values in one row", w.meta[col].name)
		}
		return nil
	}
	c.levels = append(c.levels, 1)
	return c
}

// Int64 sets a bigint or timestamp column of the current row.
func (w *Writer) Int64(col int, v int64) {
	c := w.value(col, kindInt64)
	if c == nil {
		return
	}
	c.plain = binary.LittleEndian.AppendUint64(c.plain, uint64(v))
	widen(v, &c.minI, &c.maxI, &c.hasMinMax)
}

// widen makes [lo, hi] include v; has says whether it held anything yet.
func widen[T int64 | float64](v T, lo, hi *T, has *bool) {
	if !*has {
		*lo, *hi, *has = v, v, true
	} else if v < *lo {
		*lo = v
	} else if v > *hi {
		*hi = v
	}
}

// Double sets a double column of the current row.
func (w *Writer) Double(col int, v float64) {
	c := w.value(col, kindDouble)
	if c == nil {
		return
	}
	c.plain = binary.LittleEndian.AppendUint64(c.plain, math.Float64bits(v))
	widen(v, &c.minF, &c.maxF, &c.hasMinMax)
}

// Bool sets a boolean column of the current row.
func (w *Writer) Bool(col int, v bool) {
	c := w.value(col, kindBool)
	if c == nil {
		return
	}
	var b byte
	if v {
		b = 1
	}
	c.plain = append(c.plain, b)
	if !c.hasMinMax {
		c.minI, c.maxI, c.hasMinMax = int64(b), int64(b), true
	} else {
		c.minI, c.maxI = min(c.minI, int64(b)), max(c.maxI, int64(b))
	}
}

// String sets a varchar column of the current row to a copy of b. Bytes
// that are not valid UTF-8 are replaced, so the column stays valid text.
func (w *Writer) String(col int, b []byte) {
	c := w.value(col, kindString)
	if c == nil {
		return
	}
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	c.plain = binary.LittleEndian.AppendUint32(c.plain, uint32(len(b)))
	c.plain = append(c.plain, b...)
	if !c.hasMinMax {
		c.minS, c.maxS, c.hasMinMax = append(c.minS[:0], b...), append(c.maxS[:0], b...), true
	} else if bytes.Compare(b, c.minS) < 0 {
		c.minS = append(c.minS[:0], b...)
	} else if bytes.Compare(b, c.maxS) > 0 {
		c.maxS = append(c.maxS[:0], b...)
	}
}

// EndRow ends the current row: columns not set are NULL. inBytes is the
// row's input size; it decides when the buffered rows are encoded.
func (w *Writer) EndRow(inBytes int) error {
	if w.err != nil {
		return w.err
	}
	for i := range w.cols {
		if c := &w.cols[i]; len(c.levels) == w.rows {
			c.levels = append(c.levels, 0)
			c.nulls++
		}
	}
	w.rows++
	w.input += int64(inBytes)
	if w.input >= roundInputBytes {
		return w.encode()
	}
	return nil
}

// Write appends one row given as values: row[i] is column i's value
// (string, float64, int64 for bigint and timestamp, bool, or nil for NULL).
func (w *Writer) Write(row []any, inBytes int) error {
	if len(row) != len(w.cols) {
		return fmt.Errorf("parquet row: %d values for %d columns", len(row), len(w.cols))
	}
	for i, v := range row {
		switch v := v.(type) {
		case nil:
		case string:
			w.String(i, unsafe.Slice(unsafe.StringData(v), len(v)))
		case int64:
			w.Int64(i, v)
		case float64:
			w.Double(i, v)
		case bool:
			w.Bool(i, v)
		default:
			return fmt.Errorf("parquet column %s: unsupported value %T", w.meta[i].name, v)
		}
	}
	return w.EndRow(inBytes)
}

// encode hands the buffered rows to a background encoding: a page per
// column, and a row group to the spool file once the pages reach the row
// group size.
func (w *Writer) encode() error {
	if err := w.wait(); err != nil {
		return err
	}
	if w.rows == 0 {
		return nil
	}
	cols, rows := w.cols, w.rows
	w.cols, w.spare = w.spare, nil
	for i := range w.cols {
		w.cols[i].reset()
	}
	w.otherBuffers = 0
	for i := range cols {
		w.otherBuffers += cols[i].capacity()
	}
	w.rows, w.input = 0, 0
	done := make(chan struct{})
	w.encoding = done
	// The slot is taken on the encoding goroutine: memory is bounded per
	// writer (one encoding in flight), and a caller starting encodings on
	// many writers at once must not wait for each in turn.
	go func() {
		defer close(done)
		encodeSlots <- struct{}{}
		defer func() { <-encodeSlots }()
		if err := w.file.addPages(cols, rows); err != nil {
			w.encodeErr = fmt.Errorf("encode parquet rows: %w", err)
		}
		w.spare = cols
		w.laidOut.Store(w.file.memory())
	}()
	return nil
}

// EncodeBuffered starts encoding the buffered rows in the background,
// so that files about to be finished one after another encode meanwhile.
func (w *Writer) EncodeBuffered() error { return w.encode() }

func (w *Writer) wait() error {
	if w.encoding != nil {
		<-w.encoding
		w.encoding = nil
	}
	return w.encodeErr
}

// scratch is an encoding's working memory, reused across encodings: the
// pages themselves are the only allocations that stay.
type scratch struct {
	body, compressed []byte
	idx              []int32
}

var pageScratch = sync.Pool{New: func() any { return new(scratch) }}

// statBytes are the column buffer's min and max as Parquet statistics
// store them: PLAIN-encoded, strings without their length prefix.
func (c *columnBuffer) statBytes(kind valueKind) (lo, hi []byte) {
	switch kind {
	case kindDouble:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(c.minF)), binary.LittleEndian.AppendUint64(nil, math.Float64bits(c.maxF))
	case kindBool:
		return []byte{byte(c.minI)}, []byte{byte(c.maxI)}
	case kindString:
		return bytes.Clone(c.minS), bytes.Clone(c.maxS)
	}
	return binary.LittleEndian.AppendUint64(nil, uint64(c.minI)), binary.LittleEndian.AppendUint64(nil, uint64(c.maxI))
}

// appendLevels appends definition levels (bit width 1) in the RLE /
// bit-packing hybrid encoding, length-prefixed as data page v1 wants. Runs
// of one level become RLE runs: one run when no value is NULL.
func appendLevels(dst, levels []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for i := 0; i < len(levels); {
		j := i + 1
		for j < len(levels) && levels[j] == levels[i] {
			j++
		}
		dst = binary.AppendUvarint(dst, uint64(j-i)<<1)
		dst = append(dst, levels[i])
		i = j
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// packBools packs one-byte booleans into bits, least significant first,
// the PLAIN encoding of BOOLEAN.
func packBools(dst, vals []byte) []byte {
	for i := 0; i < len(vals); i += 8 {
		var b byte
		for k := 0; k < 8 && i+k < len(vals); k++ {
			b |= vals[i+k] << k
		}
		dst = append(dst, b)
	}
	return dst
}

// Memory is what the writer holds in bytes, for bounding the memory of
// many open writers: both sets of column buffers by capacity (the values
// being gathered and those of the running encoding, or its spare), and
// what the file layout holds: the current row group's pages, its
// dictionaries with their maps, the page indexes of the groups written and
// the spool file's write buffer. TestMemoryTracksHeldBytes holds it to the
// heap's own count. Pages of the running encoding count once it ends.
func (w *Writer) Memory() int64 {
	m := w.laidOut.Load() + w.otherBuffers
	for i := range w.cols {
		m += w.cols[i].capacity()
	}
	return m
}

// Finish writes the footer and returns the spool file, positioned at its
// start, and its size. The caller uploads it, then calls Discard.
func (w *Writer) Finish() (io.ReadSeeker, int64, error) {
	if w.err != nil {
		return nil, 0, w.err
	}
	if err := w.encode(); err != nil {
		return nil, 0, err
	}
	if err := w.wait(); err != nil {
		return nil, 0, err
	}
	if err := w.file.finish(); err != nil {
		return nil, 0, fmt.Errorf("finish parquet: %w", err)
	}
	// The file is on disk: its buffers, indexes and footer go now, not
	// when the caller's upload ends and it calls Discard.
	w.cols, w.spare, w.otherBuffers, w.file = nil, nil, 0, fileLayout{}
	w.laidOut.Store(0)
	st, err := w.spool.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("finish parquet: %w", err)
	}
	if _, err := w.spool.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("finish parquet: %w", err)
	}
	return w.spool, st.Size(), nil
}

// Discard removes the spool file.
func (w *Writer) Discard() {
	_ = w.wait()
	_ = w.spool.Close()
	_ = os.Remove(w.spool.Name())
}

// schemaElement declares a column. Every column is OPTIONAL so a field
// missing from an event is NULL. Timestamps are INT64 with the TIMESTAMP
// logical type in millis or micros, not adjusted to UTC: the values are
// UTC wall-clock times, which Trino's Hive tables and DuckDB both read as a
// plain TIMESTAMP (INT96 and nanos are avoided on purpose). No field_id:
// ids are left to a table format that assigns them (Iceberg).
func schemaElement(c lake.Column, unit lake.TimeUnit) (*parquet.SchemaElement, error) {
	el := parquet.NewSchemaElement()
	el.Name = c.Name
	el.RepetitionType = parquet.FieldRepetitionTypePtr(parquet.FieldRepetitionType_OPTIONAL)
	typ := func(t parquet.Type) { el.Type = &t }
	switch c.Type {
	case lake.TypeVarchar:
		typ(parquet.Type_BYTE_ARRAY)
		el.ConvertedType = parquet.ConvertedTypePtr(parquet.ConvertedType_UTF8)
		el.LogicalType = &parquet.LogicalType{STRING: parquet.NewStringType()}
	case lake.TypeDouble:
		typ(parquet.Type_DOUBLE)
	case lake.TypeBigint:
		typ(parquet.Type_INT64)
	case lake.TypeBoolean:
		typ(parquet.Type_BOOLEAN)
	case lake.TypeTimestamp:
		typ(parquet.Type_INT64)
		ts := &parquet.TimestampType{IsAdjustedToUTC: false, Unit: &parquet.TimeUnit{MILLIS: parquet.NewMilliSeconds()}}
		if unit == lake.Micros {
			ts.Unit = &parquet.TimeUnit{MICROS: parquet.NewMicroSeconds()}
		}
		el.LogicalType = &parquet.LogicalType{TIMESTAMP: ts}
	default:
		return nil, fmt.Errorf("parquet column %s: unknown type %q", c.Name, c.Type)
	}
	return el, nil
}
