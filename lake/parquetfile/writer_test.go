package parquetfile_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/stretchr/testify/require"
	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/reader"

	"github.com/silt-etl/silt/internal/version"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// writeParquet writes rows with cols to path through parquetfile.Writer,
// counting each row as rowBytes of input (which decides the pages).
func writeParquet(t *testing.T, path string, cols []lake.Column, opts parquetfile.Options, rows [][]any, rowBytes int) {
	t.Helper()
	w, err := parquetfile.NewWriter(t.TempDir(), cols, opts)
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, w.Write(r, rowBytes))
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
	cols := []lake.Column{{Name: "at", Type: lake.TypeTimestamp}, {Name: "s", Type: lake.TypeVarchar}, {Name: "f", Type: lake.TypeDouble}, {Name: "n", Type: lake.TypeBigint}, {Name: "b", Type: lake.TypeBoolean}}
	at := time.Date(2026, 11, 22, 10, 11, 12, 345e6, time.UTC)
	const n = 5000 // several encodings (256 KiB of input each at 100 bytes a row)
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{lake.Millis.Of(at.Add(time.Duration(i) * time.Second)), fmt.Sprintf("s%d", i), float64(i) / 2, int64(i), i%2 == 0}
	}
	rows[7] = []any{nil, nil, nil, nil, nil}
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeParquet(t, path, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 20}, rows, 100)

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
	got, err := parquetfile.ReadRows(path, wider, lake.Micros)
	require.NoError(t, err)
	require.Len(t, got, n)
	require.Equal(t, []any{at.UnixMicro() + 3e6, "s3", 1.5, int64(3), false, nil}, got[3])
	require.Equal(t, []any{nil, nil, nil, nil, nil, nil}, got[7])
}

// TestParquetWriterNullsStatisticsAndRowGroups writes random rows with
// NULLs anywhere, several pages and row groups, and checks every value as
// parquet-go's reader decodes it, and every chunk's statistics as DuckDB
// reads them, against what the rows hold.
func TestParquetWriterNullsStatisticsAndRowGroups(t *testing.T) {
	cols := []lake.Column{{Name: "n", Type: lake.TypeBigint}, {Name: "s", Type: lake.TypeVarchar}, {Name: "f", Type: lake.TypeDouble}, {Name: "b", Type: lake.TypeBoolean}, {Name: "raw_event", Type: lake.TypeVarchar}}
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 30_000
	rows := make([][]any, n)
	for i := range rows {
		r := []any{int64(rng.IntN(2_000_000)) - 1_000_000, fmt.Sprintf("host-%03d", rng.IntN(500)), rng.NormFloat64() * 100, rng.IntN(3) == 0, fmt.Sprintf(`{"i":%d}`, i)}
		for c := range r {
			if rng.IntN(5) == 0 {
				r[c] = nil
			}
		}
		rows[i] = r
	}
	rows[0] = []any{nil, nil, nil, nil, nil}
	rows[n-1][1] = "bad \xff utf8"
	for _, r := range rows[1000:16000] { // some whole pages of NULLs (a page is ~6500 rows here)
		r[3] = nil
	}

	path := filepath.Join(t.TempDir(), "x.parquet")
	withIndexes := parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 64 << 10, ColumnIndexes: true}
	writeParquet(t, path, cols, withIndexes, rows, 40) // many row groups

	rows[n-1][1] = "bad \uFFFD utf8"
	got, err := parquetfile.ReadRows(path, cols, lake.Millis)
	require.NoError(t, err)
	require.Equal(t, rows, got)

	// Statistics of each row group, recomputed from the rows it holds.
	type chunk struct {
		rows             int
		min, max, nulls  sql.NullString
		column, encoding string
	}
	var chunks []chunk
	q := fmt.Sprintf(`SELECT row_group_num_rows, path_in_schema, stats_min_value, stats_max_value, stats_null_count::VARCHAR, encodings
		FROM parquet_metadata('%s') ORDER BY row_group_id, column_id`, path)
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error {
		var c chunk
		if err := r.Scan(&c.rows, &c.column, &c.min, &c.max, &c.nulls, &c.encoding); err != nil {
			return err
		}
		chunks = append(chunks, c)
		return nil
	}))
	require.Greater(t, len(chunks)/len(cols), 3, "row groups")
	first := 0
	for g := 0; g < len(chunks); g += len(cols) {
		group := rows[first : first+chunks[g].rows]
		for c, col := range cols {
			ch := chunks[g+c]
			require.Equal(t, col.Name, ch.column)
			var lo, hi any
			nulls := 0
			for _, r := range group {
				v := r[c]
				if v == nil {
					nulls++
					continue
				}
				if lo == nil || less(v, lo) {
					lo = v
				}
				if hi == nil || less(hi, v) {
					hi = v
				}
			}
			require.Equal(t, fmt.Sprint(nulls), ch.nulls.String, "null count of %s in row group %d", col.Name, g/len(cols))
			if lo == nil {
				require.False(t, ch.min.Valid || ch.max.Valid, "no min or max of %s in row group %d of only NULLs", col.Name, g/len(cols))
				continue
			}
			if col.Type == lake.TypeDouble {
				require.Equal(t, fmt.Sprint(lo), parseFloat(t, ch.min.String))
				require.Equal(t, fmt.Sprint(hi), parseFloat(t, ch.max.String))
				continue
			}
			require.Equal(t, fmt.Sprint(lo), ch.min.String, "min of %s in row group %d", col.Name, g/len(cols))
			require.Equal(t, fmt.Sprint(hi), ch.max.String, "max of %s in row group %d", col.Name, g/len(cols))
		}
		first += chunks[g].rows
	}
	require.Equal(t, n, first)
	checkPageIndexes(t, path, rows, true)

	// By default (Options.ColumnIndexes off) the same rows get offset
	// indexes only.
	plain := filepath.Join(t.TempDir(), "default.parquet")
	writeParquet(t, plain, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 64 << 10}, rows, 40)
	checkPageIndexes(t, plain, rows, false)
}

// checkPageIndexes reads the column and offset indexes of every column
// chunk and checks them against the file itself: each page location points
// at a page header whose page ends where the next page starts, and a page
// is marked null exactly when its column's values in its rows are all NULL.
// With columnIndexes (Options.ColumnIndexes), a chunk has a column index
// exactly when it can skip a page its chunk's statistics cannot: a page
// narrower than the chunk, of only NULLs, or without NULLs in a chunk with
// some; without, no chunk has one. Every chunk has an offset index.
func checkPageIndexes(t *testing.T, path string, rows [][]any, columnIndexes bool) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	fr, err := local.NewLocalFileReader(path)
	require.NoError(t, err)
	defer fr.Close()
	pr, err := reader.NewParquetColumnReader(fr, 1)
	require.NoError(t, err)
	defer pr.ReadStop()
	read := func(off int64, length int32, into thrift.TStruct) {
		tr := thrift.NewTMemoryBufferLen(int(length))
		_, _ = tr.Write(raw[off : off+int64(length)])
		require.NoError(t, into.Read(context.Background(), thrift.NewTCompactProtocolConf(tr, nil)))
	}
	type span struct {
		lo, hi         any
		nulls, nonNull int
	}
	add := func(s *span, v any) {
		if v == nil {
			s.nulls++
			return
		}
		s.nonNull++
		if s.lo == nil || less(v, s.lo) {
			s.lo = v
		}
		if s.hi == nil || less(s.hi, v) {
			s.hi = v
		}
	}
	firstRow := 0
	nullPages, indexed, omitted := 0, 0, 0
	for _, rg := range pr.Footer.RowGroups {
		for c, cc := range rg.Columns {
			oi := parquet.NewOffsetIndex()
			read(*cc.OffsetIndexOffset, *cc.OffsetIndexLength, oi)
			var ci *parquet.ColumnIndex
			if cc.ColumnIndexOffset != nil {
				ci = parquet.NewColumnIndex()
				read(*cc.ColumnIndexOffset, *cc.ColumnIndexLength, ci)
				require.Len(t, ci.NullPages, len(oi.PageLocations))
			}
			start := cc.MetaData.DataPageOffset
			if cc.MetaData.DictionaryPageOffset != nil {
				start = *cc.MetaData.DictionaryPageOffset
			}
			end := start + cc.MetaData.TotalCompressedSize
			var chunk span
			pages := make([]span, len(oi.PageLocations))
			for l, loc := range oi.PageLocations {
				h := parquet.NewPageHeader()
				read(loc.Offset, int32(min(256, int64(len(raw))-loc.Offset)), h)
				next := end
				if l+1 < len(oi.PageLocations) {
					next = oi.PageLocations[l+1].Offset
				}
				require.Equal(t, next-loc.Offset, int64(loc.CompressedPageSize), "page %d of column %d: its size must reach the next page", l, c)
				require.Less(t, h.CompressedPageSize, loc.CompressedPageSize, "the located size includes the header")
				pageRows := int(h.DataPageHeader.NumValues)
				for _, r := range rows[firstRow+int(loc.FirstRowIndex) : firstRow+int(loc.FirstRowIndex)+pageRows] {
					add(&pages[l], r[c])
					add(&chunk, r[c])
				}
				allNull := pages[l].nonNull == 0
				if ci != nil {
					require.Equal(t, allNull, ci.NullPages[l], "null page flag of page %d of column %d", l, c)
				}
				if allNull {
					nullPages++
				}
			}
			prunes := false
			for _, p := range pages {
				prunes = prunes || p.nonNull == 0 || p.lo != chunk.lo || p.hi != chunk.hi || chunk.nulls > 0 && p.nulls == 0
			}
			require.Equal(t, columnIndexes && prunes, ci != nil, "column %d in row group at row %d: a column index exactly when asked for and it can skip a page", c, firstRow)
			if ci != nil {
				indexed++
			} else {
				omitted++
			}
		}
		firstRow += int(rg.NumRows)
	}
	require.Equal(t, len(rows), firstRow)
	require.Positive(t, nullPages, "the rows make some pages of only NULLs")
	if columnIndexes {
		require.Positive(t, indexed, "chunks with a column index")
	}
	require.Positive(t, omitted, "chunks without a column index")
}

func less(a, b any) bool {
	switch a := a.(type) {
	case int64:
		return a < b.(int64)
	case float64:
		return a < b.(float64)
	case bool:
		return !a && b.(bool)
	case string:
		return a < b.(string)
	}
	panic(fmt.Sprintf("%T", a))
}

func parseFloat(t *testing.T, s string) string {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return fmt.Sprint(f)
}

func TestParquetWriterRejectsMisuse(t *testing.T) {
	cols := []lake.Column{{Name: "n", Type: lake.TypeBigint}, {Name: "s", Type: lake.TypeVarchar}}
	w, err := parquetfile.NewWriter(t.TempDir(), cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 20})
	require.NoError(t, err)
	defer w.Discard()
	w.Int64(0, 1)
	w.Int64(0, 2)
	require.ErrorContains(t, w.EndRow(10), "parquet column n")

	w2, err := parquetfile.NewWriter(t.TempDir(), cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 20})
	require.NoError(t, err)
	defer w2.Discard()
	require.ErrorContains(t, w2.Write([]any{int64(1), 2.5}, 10), "parquet column s")
	require.ErrorContains(t, w2.Write([]any{int64(1)}, 10), "1 values for 2 columns")
}

// TestDictionaryEncodingFallsBackToPlain writes a column of few values, one
// of unique values, and one whose values repeat but whose dictionary
// outgrows the bound, and checks each chunk's encodings and dictionary page
// against the bytes, and every value as DuckDB and parquet-go read them.
func TestDictionaryEncodingFallsBackToPlain(t *testing.T) {
	cols := []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "id", Type: lake.TypeVarchar}, {Name: "wide", Type: lake.TypeVarchar}, {Name: "level", Type: lake.TypeBigint}, {Name: "price", Type: lake.TypeDouble}, {Name: "rare", Type: lake.TypeBoolean}, {Name: "drawn", Type: lake.TypeDouble}, {Name: "user", Type: lake.TypeVarchar}}
	const n = 40_000
	rows := make([][]any, n)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range rows {
		// drawn: prices from 5000, which repeat across pages more than
		// within one; user: ids from a million, which hardly repeat.
		drawn, user := float64(rng.IntN(5000))/100, fmt.Sprintf("u-%d", rng.IntN(1_000_000))
		rows[i] = []any{fmt.Sprintf("game-%d.example.com", i%5), fmt.Sprintf("id-%d", i), fmt.Sprintf("%0100d", i/2), int64(i % 7), float64(i%3) / 2, nil, drawn, user}
		if i > 3*n/4 {
			rows[i][5] = i%2 == 0 // pages of only NULLs before (a page holds up to 20,000 rows)
		}
		if i%11 == 0 {
			rows[i][0] = nil
		}
	}
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeParquet(t, path, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 64 << 20, ColumnIndexes: true}, rows, 100) // one row group

	got, err := parquetfile.ReadRows(path, cols, lake.Millis)
	require.NoError(t, err)
	require.Equal(t, rows, got)
	var mismatched int64
	q := fmt.Sprintf(`SELECT count(*) FROM (SELECT *, file_row_number AS i FROM read_parquet('%s', file_row_number = true))
		WHERE host IS DISTINCT FROM CASE WHEN i %% 11 = 0 THEN NULL ELSE 'game-' || (i %% 5) || '.example.com' END
		OR id <> 'id-' || i OR wide <> lpad((i // 2)::VARCHAR, 100, '0') OR level <> i %% 7 OR price <> (i %% 3) / 2`, path)
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error { return r.Scan(&mismatched) }))
	require.Zero(t, mismatched, "rows DuckDB reads differently from what was written")

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	fr, err := local.NewLocalFileReader(path)
	require.NoError(t, err)
	defer fr.Close()
	pr, err := reader.NewParquetColumnReader(fr, 1)
	require.NoError(t, err)
	defer pr.ReadStop()
	require.Len(t, pr.Footer.RowGroups, 1)
	encodings := map[string][]parquet.Encoding{}
	dictValues := map[string]int32{}
	dictBytes := map[string]int32{}
	for _, cc := range pr.Footer.RowGroups[0].Columns {
		name := strings.ToLower(cc.MetaData.PathInSchema[0]) // parquet-go capitalizes names
		for _, s := range cc.MetaData.EncodingStats {
			if s.PageType == parquet.PageType_DATA_PAGE {
				encodings[name] = append(encodings[name], s.Encoding)
			}
		}
		if off := cc.MetaData.DictionaryPageOffset; off != nil {
			h := parquet.NewPageHeader()
			tr := thrift.NewTMemoryBufferLen(256)
			_, _ = tr.Write(raw[*off : *off+256])
			require.NoError(t, h.Read(context.Background(), thrift.NewTCompactProtocolConf(tr, nil)))
			require.Equal(t, parquet.PageType_DICTIONARY_PAGE, h.Type)
			dictValues[name], dictBytes[name] = h.DictionaryPageHeader.NumValues, h.UncompressedPageSize
		}
	}
	dict, plain := []parquet.Encoding{parquet.Encoding_RLE_DICTIONARY}, []parquet.Encoding{parquet.Encoding_PLAIN}
	require.Equal(t, dict, encodings["host"])
	require.EqualValues(t, 5, dictValues["host"])
	require.Equal(t, dict, encodings["level"])
	require.EqualValues(t, 7, dictValues["level"])
	require.Equal(t, dict, encodings["price"])
	require.EqualValues(t, 3, dictValues["price"])
	require.Equal(t, plain, encodings["id"], "unique values are not worth a dictionary")
	require.NotContains(t, dictValues, "id")
	require.Equal(t, []parquet.Encoding{parquet.Encoding_PLAIN, parquet.Encoding_RLE_DICTIONARY}, encodings["wide"], "dictionary pages, then PLAIN once the dictionary is full")
	require.Equal(t, dict, encodings["drawn"], "values that repeat across pages keep the dictionary")
	require.Equal(t, []parquet.Encoding{parquet.Encoding_PLAIN, parquet.Encoding_RLE_DICTIONARY}, encodings["user"], "dictionary pages until the dictionary is seen not to pay, then PLAIN")
	require.Greater(t, dictBytes["wide"], int32(parquetfile.DefaultMaxDictionaryBytes))
	require.LessOrEqual(t, dictBytes["wide"], int32(parquetfile.DefaultMaxDictionaryBytes+(256<<10)), "over the bound by at most one page")
	checkPageIndexes(t, path, rows, true)
}

// TestFooterNamesSiltAndDeclaresNoFieldIDs: created_by names silt and its
// version (parquet-java and Arrow parse it to decide whether to trust
// statistics), and no column claims a field id.
func TestFooterNamesSiltAndDeclaresNoFieldIDs(t *testing.T) {
	cols := []lake.Column{{Name: "a", Type: lake.TypeVarchar}, {Name: "b", Type: lake.TypeBigint}}
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeParquet(t, path, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 20}, [][]any{{"x", int64(1)}}, 10)
	fr, err := local.NewLocalFileReader(path)
	require.NoError(t, err)
	defer fr.Close()
	pr, err := reader.NewParquetColumnReader(fr, 1)
	require.NoError(t, err)
	defer pr.ReadStop()
	require.Equal(t, version.String(), pr.Footer.GetCreatedBy())
	require.Regexp(t, `^silt version \S+( \(build [0-9a-f]+(\+dirty)?\))?$`, pr.Footer.GetCreatedBy())
	for _, el := range pr.Footer.Schema {
		require.Nil(t, el.FieldID, "field id of %s", el.Name)
	}
	require.Len(t, pr.Footer.ColumnOrders, len(cols))
}

// Pages are cut per column: a column of small or repeating values gathers
// rows into pages of up to 20,000 rows, one of large values gets a page
// of about 256 KiB. A page per column per 256 KiB of input gave `host`
// pages of ~900 rows here, and Trino read them 2.9x slower than its own.
func TestPagesAreCutPerColumn(t *testing.T) {
	cols := []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "seq", Type: lake.TypeBigint}, {Name: "raw_event", Type: lake.TypeVarchar}, {Name: "rare", Type: lake.TypeBoolean}}
	const n = 60_000
	rows := make([][]any, n)
	for i := range rows {
		// raw_event ~100 bytes: a header with its min and max fits the 256
		// bytes checkPageIndexes reads; rare: pages of only NULLs first.
		rows[i] = []any{fmt.Sprintf("game-%d.example.com", i%3), int64(i), fmt.Sprintf(`{"seq":%d,"pad":"%080d"}`, i, i), nil}
		if i >= 45_000 {
			rows[i][3] = i%2 == 0
		}
	}
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeParquet(t, path, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 30, ColumnIndexes: true}, rows, 300) // one row group
	checkPageIndexes(t, path, rows, true)

	pageRows, pageBytes := pagesOf(t, path)
	t.Logf("pages: host %d, seq %d, raw_event %d", len(pageRows["host"]), len(pageRows["seq"]), len(pageRows["raw_event"]))
	// Rounds are 256 KiB of input, 873 rows here: a page ends in the round
	// that reaches 20,000 rows or 256 KiB.
	for _, c := range []string{"host", "seq"} {
		require.Len(t, pageRows[c], 3, "pages of %s", c)
		for _, r := range pageRows[c][:2] {
			require.InDelta(t, 20_000, r, 873, "rows in a page of %s", c)
		}
	}
	require.Greater(t, len(pageRows["raw_event"]), 20, "pages of raw_event")
	for _, b := range pageBytes["raw_event"] {
		require.LessOrEqual(t, b, int32(256<<10+110*873), "bytes of a raw_event page")
	}

	// Options.PageRows moves the row limit (trinoparquet -page-rows).
	fewer := filepath.Join(t.TempDir(), "fewer.parquet")
	writeParquet(t, fewer, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 1 << 30, PageRows: 7_000}, rows, 300)
	pageRows, _ = pagesOf(t, fewer)
	require.Len(t, pageRows["host"], 8, "pages of host") // 60,000 rows in pages of the round reaching 7,000
	for _, r := range pageRows["host"][:7] {
		require.InDelta(t, 7_000, r, 873, "rows in a page of host")
	}
}

// pagesOf reads the rows and uncompressed bytes of each data page of a
// file of one row group, per column, through its offset indexes.
func pagesOf(t *testing.T, path string) (rows, bytes map[string][]int32) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	fr, err := local.NewLocalFileReader(path)
	require.NoError(t, err)
	defer fr.Close()
	pr, err := reader.NewParquetColumnReader(fr, 1)
	require.NoError(t, err)
	defer pr.ReadStop()
	require.Len(t, pr.Footer.RowGroups, 1)
	rows, bytes = map[string][]int32{}, map[string][]int32{}
	for _, cc := range pr.Footer.RowGroups[0].Columns {
		name := strings.ToLower(cc.MetaData.PathInSchema[0])
		oi := parquet.NewOffsetIndex()
		tr := thrift.NewTMemoryBufferLen(int(*cc.OffsetIndexLength))
		_, _ = tr.Write(raw[*cc.OffsetIndexOffset : *cc.OffsetIndexOffset+int64(*cc.OffsetIndexLength)])
		require.NoError(t, oi.Read(context.Background(), thrift.NewTCompactProtocolConf(tr, nil)))
		for _, loc := range oi.PageLocations {
			h := parquet.NewPageHeader()
			tr := thrift.NewTMemoryBufferLen(256)
			_, _ = tr.Write(raw[loc.Offset : loc.Offset+256])
			require.NoError(t, h.Read(context.Background(), thrift.NewTCompactProtocolConf(tr, nil)))
			rows[name] = append(rows[name], h.DataPageHeader.NumValues)
			bytes[name] = append(bytes[name], h.UncompressedPageSize)
		}
	}
	return rows, bytes
}
