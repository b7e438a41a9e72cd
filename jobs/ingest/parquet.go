package ingest

import (
	"fmt"
	"time"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// parquetFile is one Parquet object a batch is writing, with what ingest
// needs to know about it: its key, its records' offsets and size.
type parquetFile struct {
	key       string
	partition lake.Partition
	firstOff  int64
	lastOff   int64
	columns   int // number of columns, to tell when the table's schema grew
	rows      int64
	inBytes   int64 // raw input bytes: the deterministic size bound
	opened    time.Time
	w         *parquetfile.Writer
}

// openParquet starts a Snappy Parquet file with the given columns in dir.
func openParquet(dir, key string, p lake.Partition, firstOff int64, cols []lake.Column, opts parquetfile.Options, now time.Time) (*parquetFile, error) {
	w, err := parquetfile.NewWriter(dir, cols, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return &parquetFile{key: key, partition: p, firstOff: firstOff, lastOff: firstOff, columns: len(cols), opened: now, w: w}, nil
}

func (f *parquetFile) memory() int64 { return f.w.Memory() }
