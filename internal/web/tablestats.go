package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/xitongsys/parquet-go/parquet"

	"github.com/silt-etl/silt/lake"
)

// TableStats is one table as the tables view shows it.
type TableStats struct {
	Name       string
	Rows       int64
	Bytes      int64
	Files      int
	Partitions int
	// SmallFiles are objects under a quarter of ingest.target_file_bytes:
	// those compaction merges once their batch is committed.
	SmallFiles int
	Columns    []lake.Column
	// Newest is the newest partition, e.g. dt=2024-03-01/hour=12.
	Newest string
	// RowsErr says why some objects' rows are not counted.
	RowsErr string
	// Iceberg: the table is an Iceberg table (table_format iceberg). Its
	// rows, files and bytes here are silt's objects in the lake, which
	// the table may no longer reference (OPTIMIZE and retention leave
	// them until snapshot expiry); small files is not counted, since
	// Iceberg compaction picks hours from the table's own $files.
	Iceberg bool
	// Report names the report job whose output the table stores; empty
	// for an event type's table. Shown, so a reader does not take it for
	// an event type.
	Report string
}

// TableStatsSource lists the tables view's tables.
type TableStatsSource interface {
	TableStats(ctx context.Context) ([]TableStats, error)
}

// LakeTableStats computes the tables view from the lake: one listing per
// table, the schema file, and each Parquet object's footer (its row
// count), read once per object version and remembered.
type LakeTableStats struct {
	Store lake.Store
	// TargetFileBytes is ingest.target_file_bytes; objects under a quarter
	// of it are small. 0 counts none.
	TargetFileBytes int64
	// Layout is lake.layout, whose partition keys end each table's columns.
	Layout lake.Layout
	// Iceberg is catalog.trino.table_format iceberg: the tables have no
	// partition key columns, and small files are not what compaction
	// merges (see TableStats.Iceberg). Reading the tables' $files instead
	// would cost an engine query per table on every page view.
	Iceberg bool

	mu   sync.Mutex
	rows map[string]footerRows // by key
}

type footerRows struct {
	size     int64
	modified time.Time
	rows     int64
}

func (l *LakeTableStats) TableStats(ctx context.Context) ([]TableStats, error) {
	names, err := lake.Tables(ctx, l.Store)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	// The dead-letter table has no schema file (its columns are fixed):
	// it is shown once it holds objects.
	names = append(names, lake.DeadLetterTable)
	out := make([]TableStats, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		ts, err := l.table(ctx, name, seen)
		if err != nil {
			return out, err
		}
		if name == lake.DeadLetterTable && ts.Files == 0 {
			continue
		}
		out = append(out, ts)
	}
	l.mu.Lock()
	for k := range l.rows {
		if !seen[k] {
			delete(l.rows, k) // compacted or expired
		}
	}
	l.mu.Unlock()
	return out, nil
}

func (l *LakeTableStats) table(ctx context.Context, name string, seen map[string]bool) (TableStats, error) {
	ts := TableStats{Name: name, Iceberg: l.Iceberg}
	if name == lake.DeadLetterTable {
		ts.Columns = lake.DeadLetterColumns
	} else {
		s, _, err := lake.LoadSchema(ctx, l.Store, name)
		if err != nil {
			return ts, err
		}
		ts.Columns = s.AllColumns()
		ts.Report = s.Report
	}
	ts.Columns = append([]lake.Column{}, ts.Columns...)
	if !l.Iceberg {
		ts.Columns = append(ts.Columns, l.Layout.Columns()...)
	}
	objs, err := l.Store.List(ctx, lake.TablePrefix(name))
	if err != nil {
		return ts, fmt.Errorf("list %s: %w", name, err)
	}
	partitions := map[string]bool{}
	var rowErrs []error
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		p, ok := lake.ParsePartitionPrefix(o.Key)
		if !ok {
			continue
		}
		seen[o.Key] = true
		partitions[strings.TrimPrefix(p.String(), name+"/")] = true
		ts.Files++
		ts.Bytes += o.Size
		if !l.Iceberg && l.TargetFileBytes > 0 && o.Size < l.TargetFileBytes/4 {
			ts.SmallFiles++
		}
		n, err := l.objectRows(ctx, o)
		if err != nil {
			if !errors.Is(err, lake.ErrNotExist) { // compacted away since the listing
				rowErrs = append(rowErrs, err)
			}
			continue
		}
		ts.Rows += n
	}
	ts.Partitions = len(partitions)
	newest := make([]string, 0, len(partitions))
	for p := range partitions {
		newest = append(newest, p)
	}
	sort.Strings(newest)
	if len(newest) > 0 {
		ts.Newest = newest[len(newest)-1]
	}
	if len(rowErrs) > 0 {
		ts.RowsErr = fmt.Sprintf("rows of %d objects not counted: %v", len(rowErrs), rowErrs[0])
	}
	return ts, nil
}

func (l *LakeTableStats) objectRows(ctx context.Context, o lake.Object) (int64, error) {
	l.mu.Lock()
	if l.rows == nil {
		l.rows = map[string]footerRows{}
	}
	c, ok := l.rows[o.Key]
	l.mu.Unlock()
	if ok && c.size == o.Size && c.modified.Equal(o.Modified) {
		return c.rows, nil
	}
	n, err := readFooterRows(ctx, l.Store, o)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.rows[o.Key] = footerRows{size: o.Size, modified: o.Modified, rows: n}
	l.mu.Unlock()
	return n, nil
}

// readFooterRows reads the row count from a Parquet object's footer. Both
// stores' readers are io.ReaderAt (a file; on S3 a ranged GET), so only
// the footer is read.
func readFooterRows(ctx context.Context, st lake.Store, o lake.Object) (int64, error) {
	rc, err := st.Get(ctx, o.Key)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		all, err := io.ReadAll(rc)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", o.Key, err)
		}
		ra = bytes.NewReader(all)
	}
	if o.Size < 12 {
		return 0, fmt.Errorf("%s: %d bytes is no Parquet file", o.Key, o.Size)
	}
	tail := make([]byte, 8)
	if _, err := ra.ReadAt(tail, o.Size-8); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read footer of %s: %w", o.Key, err)
	}
	if string(tail[4:]) != "PAR1" {
		return 0, fmt.Errorf("%s: no Parquet magic at its end", o.Key)
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n <= 0 || n > o.Size-12 {
		return 0, fmt.Errorf("%s: footer length %d does not fit its %d bytes", o.Key, n, o.Size)
	}
	footer := make([]byte, n)
	if _, err := ra.ReadAt(footer, o.Size-8-n); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read footer of %s: %w", o.Key, err)
	}
	buf := thrift.NewTMemoryBufferLen(len(footer))
	buf.Write(footer)
	meta := parquet.NewFileMetaData()
	if err := meta.Read(ctx, thrift.NewTCompactProtocolConf(buf, &thrift.TConfiguration{})); err != nil {
		return 0, fmt.Errorf("decode footer of %s: %w", o.Key, err)
	}
	return meta.NumRows, nil
}
