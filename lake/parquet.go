package lake

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/xitongsys/parquet-go-source/writerfile"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"
)

// TimeUnit is the unit of every timestamp column in the Parquet silt writes.
type TimeUnit int

const (
	Millis TimeUnit = iota
	Micros
)

// Of is t in the unit, since the Unix epoch.
func (u TimeUnit) Of(t time.Time) int64 {
	if u == Micros {
		return t.UnixMicro()
	}
	return t.UnixMilli()
}

// ParseTimeUnit reads the config spelling: "millis" or "micros".
func ParseTimeUnit(s string) TimeUnit {
	if s == "micros" {
		return Micros
	}
	return Millis
}

// flushInputBytes is how much input a writer gathers as Go values before
// they are encoded into compressed pages. parquet-go's own trigger
// estimates a []any row at 4 bytes a value and so held tens of MB of rows
// per open file; this bound keeps each file's unencoded rows small.
const flushInputBytes = 256 << 10

// encodeSlots bounds the encodings running beside the caller's goroutine:
// one per spare core, so decoding and encoding overlap without unbounded
// memory in flight.
var encodeSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))

// ParquetWriter writes one Snappy Parquet object into a local spool file,
// so memory holds only the current row group; Finish hands the file over
// for upload. Rows are encoded on a background goroutine, one encoding per
// writer at a time, in row order. A writer is used by one goroutine.
type ParquetWriter struct {
	spool *os.File
	pw    *writer.CSVWriter

	buf     []any // rows not handed to an encoding yet
	pending int64 // input bytes of the rows in buf

	encoding  chan struct{} // closed when the running encoding ends; nil when none runs
	inFlight  int64         // input bytes of the running encoding's rows
	encodeErr error
	encoded   atomic.Int64 // encoded bytes of the current row group
}

// NewParquetWriter starts a file with the given columns in dir.
func NewParquetWriter(dir string, cols []Column, unit TimeUnit, rowGroupBytes int64) (*ParquetWriter, error) {
	spool, err := os.CreateTemp(dir, "silt-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("spool parquet: %w", err)
	}
	pw, err := writer.NewCSVWriter(parquetSchema(cols, unit), writerfile.NewWriterFile(spool), 1)
	if err != nil {
		spool.Close()
		os.Remove(spool.Name())
		return nil, fmt.Errorf("parquet schema: %w", err)
	}
	pw.CompressionType = parquet.CompressionCodec_SNAPPY
	pw.RowGroupSize = rowGroupBytes
	// Bigger pages than the 8 KiB default: fewer page headers and better
	// Snappy ratios; a page never exceeds one encoding's rows anyway.
	pw.PageSize = 1 << 20
	return &ParquetWriter{spool: spool, pw: pw}, nil
}

// Write appends one row: row[i] is column i's value (string, float64,
// int64, bool, or nil for NULL). inBytes is the row's input size, for the
// memory accounting.
func (w *ParquetWriter) Write(row []any, inBytes int) error {
	w.buf = append(w.buf, row)
	w.pending += int64(inBytes)
	if w.pending >= flushInputBytes {
		return w.encode()
	}
	return nil
}

// encode hands the buffered rows to a background encoding (rows into
// compressed pages, and a row group to the spool file once the pages reach
// the row group size).
func (w *ParquetWriter) encode() error {
	if err := w.wait(); err != nil {
		return err
	}
	rows := w.buf
	w.buf = make([]any, 0, len(rows))
	w.inFlight, w.pending = w.pending, 0
	done := make(chan struct{})
	w.encoding = done
	encodeSlots <- struct{}{}
	go func() {
		defer close(done)
		defer func() { <-encodeSlots }()
		w.pw.Objs = rows
		if err := w.pw.Flush(false); err != nil {
			w.encodeErr = fmt.Errorf("encode parquet rows: %w", err)
		}
		w.encoded.Store(w.pw.Size)
	}()
	return nil
}

func (w *ParquetWriter) wait() error {
	if w.encoding != nil {
		<-w.encoding
		w.encoding = nil
		w.inFlight = 0
	}
	return w.encodeErr
}

// Memory estimates what the writer holds: encoded pages of the current row
// group, and unencoded rows (a boxed row is about four times its JSON size).
func (w *ParquetWriter) Memory() int64 { return w.encoded.Load() + 4*(w.pending+w.inFlight) }

// Finish writes the footer and returns the spool file, positioned at its
// start, and its size. The caller uploads it, then calls Discard.
func (w *ParquetWriter) Finish() (io.ReadSeeker, int64, error) {
	if err := w.wait(); err != nil {
		return nil, 0, err
	}
	w.pw.Objs = w.buf
	if err := w.pw.WriteStop(); err != nil {
		return nil, 0, fmt.Errorf("finish parquet: %w", err)
	}
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
func (w *ParquetWriter) Discard() {
	_ = w.wait()
	w.spool.Close()
	os.Remove(w.spool.Name())
}

// parquetSchema describes columns for parquet-go. Every column is OPTIONAL
// so a field missing from an event is NULL. Timestamps are INT64 with the
// TIMESTAMP logical type in millis or micros, not adjusted to UTC: the
// values are UTC wall-clock times, which Trino's Hive tables and DuckDB
// both read as a plain TIMESTAMP (INT96 and nanos are avoided on purpose).
func parquetSchema(cols []Column, unit TimeUnit) []string {
	md := make([]string, len(cols))
	for i, c := range cols {
		var t string
		switch c.Type {
		case TypeVarchar:
			t = "type=BYTE_ARRAY, convertedtype=UTF8"
		case TypeDouble:
			t = "type=DOUBLE"
		case TypeBigint:
			t = "type=INT64"
		case TypeBoolean:
			t = "type=BOOLEAN"
		case TypeTimestamp:
			u := "MILLIS"
			if unit == Micros {
				u = "MICROS"
			}
			t = "type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=false, logicaltype.unit=" + u
		}
		md[i] = "name=" + c.Name + ", " + t + ", repetitiontype=OPTIONAL"
	}
	return md
}
