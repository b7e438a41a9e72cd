package lake_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/lakecheck"
	"github.com/silt-etl/silt/lake"
)

// writeParquet writes rows with cols to path through lake.ParquetWriter.
func writeParquet(t *testing.T, path string, cols []lake.Column, unit lake.TimeUnit, rows [][]any) {
	t.Helper()
	w, err := lake.NewParquetWriter(t.TempDir(), cols, unit, 1<<20)
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, w.Write(r, 100))
	}
	rs, size, err := w.Finish()
	require.NoError(t, err)
	f, err := os.Create(path)
	require.NoError(t, err)
	n, err := io.Copy(f, rs)
	require.NoError(t, err)
	require.Equal(t, size, n)
	require.NoError(t, f.Close())
	w.Discard()
}

func TestParquetWriterIsReadByDuckDBAndBackByReadParquetRows(t *testing.T) {
	cols := []lake.Column{{"at", lake.TypeTimestamp}, {"s", lake.TypeVarchar}, {"f", lake.TypeDouble}, {"n", lake.TypeBigint}, {"b", lake.TypeBoolean}}
	at := time.Date(2026, 11, 22, 10, 11, 12, 345e6, time.UTC)
	const n = 5000 // several encodings (256 KiB of input each at 100 bytes a row)
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{lake.Millis.Of(at.Add(time.Duration(i) * time.Second)), fmt.Sprintf("s%d", i), float64(i) / 2, int64(i), i%2 == 0}
	}
	rows[7] = []any{nil, nil, nil, nil, nil}
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeParquet(t, path, cols, lake.Millis, rows)

	var count, nulls int64
	var first time.Time
	var codec string
	q := fmt.Sprintf(`SELECT count(*), count(*) - count(s), min(at) FROM read_parquet('%s')`, path)
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error { return r.Scan(&count, &nulls, &first) }))
	require.EqualValues(t, n, count)
	require.EqualValues(t, 1, nulls)
	require.True(t, at.Equal(first), "min(at) %s", first)
	q = fmt.Sprintf(`SELECT DISTINCT compression FROM parquet_metadata('%s')`, path)
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error { return r.Scan(&codec) }))
	require.Equal(t, "SNAPPY", codec)

	// Read back in another layout: an extra column reads NULL, micros scale.
	wider := append(append([]lake.Column{}, cols...), lake.Column{Name: "new", Type: lake.TypeVarchar})
	got, err := lake.ReadParquetRows(path, wider, lake.Micros)
	require.NoError(t, err)
	require.Len(t, got, n)
	require.Equal(t, []any{at.UnixMicro() + 3e6, "s3", 1.5, int64(3), false, nil}, got[3])
	require.Equal(t, []any{nil, nil, nil, nil, nil, nil}, got[7])
}
