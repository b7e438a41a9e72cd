package ingest

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/xitongsys/parquet-go-source/writerfile"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"

	"github.com/silt-etl/silt/lake"
)

// parquetFile is one Parquet object being written: spooled to a local file
// (so memory holds only the current row group) and uploaded when closed.
type parquetFile struct {
	key       string
	partition lake.Partition
	firstOff  int64
	lastOff   int64
	columns   int // number of columns, to tell when the table's schema grew
	rows      int64
	inBytes   int64 // raw input bytes: the deterministic size bound
	pending   int64 // input bytes of rows in buf
	buf       []any // rows not handed to an encoding yet

	encoding  chan struct{} // closed when the running encoding ends; nil when none runs
	inFlight  int64         // input bytes of the running encoding's rows
	encodeErr error
	encoded   atomic.Int64 // encoded bytes of the current row group
	opened    time.Time

	spool *os.File
	pw    *writer.CSVWriter
}

// openParquet starts a Snappy Parquet file with the given columns in dir.
func openParquet(dir, key string, p lake.Partition, firstOff int64, cols []lake.Column, unit timeUnit, rowGroupBytes int64, now time.Time) (*parquetFile, error) {
	spool, err := os.CreateTemp(dir, "silt-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("spool parquet for %s: %w", key, err)
	}
	pw, err := writer.NewCSVWriter(parquetSchema(cols, unit), writerfile.NewWriterFile(spool), 1)
	if err != nil {
		spool.Close()
		os.Remove(spool.Name())
		return nil, fmt.Errorf("parquet schema for %s: %w", key, err)
	}
	pw.CompressionType = parquet.CompressionCodec_SNAPPY
	pw.RowGroupSize = rowGroupBytes
	// Bigger pages than the 8 KiB default: fewer page headers and better
	// Snappy ratios; pages never exceed one flush of rows anyway.
	pw.PageSize = 1 << 20
	return &parquetFile{
		key: key, partition: p, firstOff: firstOff, lastOff: firstOff,
		columns: len(cols), opened: now, spool: spool, pw: pw,
	}, nil
}

// flushInputBytes is how much input a file gathers as Go values before
// they are encoded into compressed pages. parquet-go's own trigger
// estimates a []any row at 4 bytes a value and so held tens of MB of rows
// per open file; this bound keeps each file's unencoded rows to a few MB.
const flushInputBytes = 256 << 10

// encodeSlots bounds the encodings running beside the decoding goroutine:
// one per spare core, so decode and encode overlap without unbounded
// memory in flight.
var encodeSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))

// write appends one row; row[i] is the value of column i (nil is NULL).
func (f *parquetFile) write(row []any, offset int64, inBytes int) error {
	f.buf = append(f.buf, row)
	f.rows++
	f.lastOff = offset
	f.inBytes += int64(inBytes)
	f.pending += int64(inBytes)
	if f.pending >= flushInputBytes {
		return f.encode()
	}
	return nil
}

// encode hands the buffered rows to a background encoding (rows into
// compressed pages, and a row group to the spool file once the pages reach
// the row group size). One encoding per file runs at a time, in row order.
func (f *parquetFile) encode() error {
	if err := f.wait(); err != nil {
		return err
	}
	rows := f.buf
	f.buf = make([]any, 0, len(rows))
	f.inFlight = f.pending
	f.pending = 0
	done := make(chan struct{})
	f.encoding = done
	encodeSlots <- struct{}{}
	go func() {
		defer close(done)
		defer func() { <-encodeSlots }()
		f.pw.Objs = rows
		if err := f.pw.Flush(false); err != nil {
			f.encodeErr = fmt.Errorf("encode rows of %s: %w", f.key, err)
		}
		f.encoded.Store(f.pw.Size)
	}()
	return nil
}

// wait waits for the file's running encoding, if any.
func (f *parquetFile) wait() error {
	if f.encoding != nil {
		<-f.encoding
		f.encoding = nil
		f.inFlight = 0
	}
	return f.encodeErr
}

// memory estimates what the open file holds: encoded pages of the
// current row group, and unencoded rows (a boxed row is about four times
// its JSON size).
func (f *parquetFile) memory() int64 { return f.encoded.Load() + 4*(f.pending+f.inFlight) }

// finish writes the footer and syncs; the spool file stays for upload.
func (f *parquetFile) finish() (size int64, err error) {
	if err := f.wait(); err != nil {
		return 0, err
	}
	f.pw.Objs = f.buf
	if err := f.pw.WriteStop(); err != nil {
		return 0, fmt.Errorf("finish parquet %s: %w", f.key, err)
	}
	st, err := f.spool.Stat()
	if err != nil {
		return 0, fmt.Errorf("finish parquet %s: %w", f.key, err)
	}
	if _, err := f.spool.Seek(0, 0); err != nil {
		return 0, fmt.Errorf("finish parquet %s: %w", f.key, err)
	}
	return st.Size(), nil
}

// discard removes the spool file.
func (f *parquetFile) discard() {
	_ = f.wait()
	f.spool.Close()
	os.Remove(f.spool.Name())
}

// parquetSchema describes columns for parquet-go. Every column is OPTIONAL
// so a field missing from an event is NULL. Timestamps are INT64 with the
// TIMESTAMP logical type in millis or micros, not adjusted to UTC: the
// values are UTC wall-clock times, which Trino's Hive tables and DuckDB
// both read as a plain TIMESTAMP (INT96 and nanos are avoided on purpose).
func parquetSchema(cols []lake.Column, unit timeUnit) []string {
	md := make([]string, len(cols))
	for i, c := range cols {
		var t string
		switch c.Type {
		case lake.TypeVarchar:
			t = "type=BYTE_ARRAY, convertedtype=UTF8"
		case lake.TypeDouble:
			t = "type=DOUBLE"
		case lake.TypeBigint:
			t = "type=INT64"
		case lake.TypeBoolean:
			t = "type=BOOLEAN"
		case lake.TypeTimestamp:
			u := "MILLIS"
			if unit == micros {
				u = "MICROS"
			}
			t = "type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=false, logicaltype.unit=" + u
		}
		md[i] = "name=" + c.Name + ", " + t + ", repetitiontype=OPTIONAL"
	}
	return md
}
