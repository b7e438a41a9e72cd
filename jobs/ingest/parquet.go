package ingest

import (
	"fmt"
	"os"
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
	// Snappy ratios, at the price of a little more memory per open file.
	pw.PageSize = 256 << 10
	return &parquetFile{
		key: key, partition: p, firstOff: firstOff, lastOff: firstOff,
		columns: len(cols), opened: now, spool: spool, pw: pw,
	}, nil
}

// write appends one row; row[i] is the value of column i (nil is NULL).
func (f *parquetFile) write(row []any, offset int64, inBytes int) error {
	if err := f.pw.Write(row); err != nil {
		return fmt.Errorf("write row to %s: %w", f.key, err)
	}
	f.rows++
	f.lastOff = offset
	f.inBytes += int64(inBytes)
	return nil
}

// finish writes the footer and syncs; the spool file stays for upload.
func (f *parquetFile) finish() (size int64, err error) {
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
