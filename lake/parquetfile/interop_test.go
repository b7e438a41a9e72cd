package parquetfile_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/version"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// interopTable is the table the interop fixture fills: every type silt
// writes (bigint and timestamp declared, the rest inferred), NULLs (a
// column absent from the first half of the events, so whole pages of
// NULLs), long strings, unicode, a low-cardinality column (dictionary
// pages) and nested JSON stored as text.
const interopTable = "interop"

// interopFile is one Parquet object of the fixture and the rows
// parquet-go reads from it, the reference every other reader must match.
type interopFile struct {
	key, path string
	rows      [][]any
	groups    []int64 // rows per row group
}

type interopLake struct {
	root  string
	cols  []lake.Column
	files []interopFile
	// events by raw_event: the typed values each event must have.
	events map[string]map[string]any
}

// newInteropLake runs the real ingest job (on the embedded broker) over
// crafted events in two hours, then compaction, which merges the older
// hour's objects: the lake holds objects written by ingest and by
// compaction, with column indexes when columnIndexes is set
// (ingest.column_indexes; offset indexes always). With them, ingest's
// small row groups give chunks of only NULLs (a null page), and
// compaction's of 384 KB give the wide columns several pages, whose column
// indexes can skip some.
func newInteropLake(t *testing.T, columnIndexes bool) *interopLake {
	t.Helper()
	ctx := context.Background()
	b, err := embedded.StartBroker(0, "", []string{"events"}, 1)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	in := ingest.DefaultOptions()
	in.Kafka.Brokers = b.Addrs()
	in.SpoolDir = t.TempDir()
	in.MaxRecords = 700 // several objects per hour
	in.RowGroupBytes = 64 << 10
	in.ColumnIndexes = columnIndexes
	in.TargetFileBytes = 8 << 20
	in.Tables = map[string]ingest.TableDecl{interopTable: {Columns: map[string]string{"n": lake.TypeBigint, "at": lake.TypeTimestamp}}}
	root := t.TempDir()
	st, err := lake.NewLocal(root)
	require.NoError(t, err)

	old := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	recent := time.Now().UTC().Add(-time.Minute)
	hosts := []string{"game-1.example.com", "game-2.example.com", "hôte-ü.example", "ゲーム.example"}
	long := strings.Repeat("a long value ✓ ", 5000) // 80 KB, over a page
	const n = 4000
	events := map[string]map[string]any{}
	var recs []*kgo.Record
	for i := range n {
		at := old.Add(time.Duration(i) * 700 * time.Millisecond)
		if i >= n/2 {
			at = recent
		}
		ev := map[string]any{
			"event_type": interopTable,
			"timestamp":  at.Add(time.Duration(i%2) * time.Millisecond).Format(time.RFC3339Nano),
			"host":       hosts[i%len(hosts)],
			"s":          fmt.Sprintf("é日本🎮 \"%d\"\t\\", i),
			"f":          float64(i)/8 - 100,
			"nested":     map[string]any{"a": []any{i, "x"}, "b": nil},
		}
		if i%13 != 0 {
			ev["n"] = int64(i)*7919 - 1_000_000
		}
		if i%5 != 0 {
			ev["at"] = at.Add(time.Duration(i) * time.Second).UnixMilli()
		}
		if i%500 == 7 {
			ev["s"] = long + strconv.Itoa(i)
		}
		if i%(n/2) >= n/4 { // absent in the first quarter of each hour: pages of only NULLs
			ev["ok"] = i%3 == 0
		}
		raw, err := json.Marshal(ev)
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Value: raw})
		want := map[string]any{"host": ev["host"], "s": ev["s"], "f": ev["f"], "n": ev["n"], "ok": ev["ok"]}
		if v, ok := ev["at"]; ok {
			want["at"] = v
		}
		events[string(raw)] = want
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(in.Kafka.Brokers...), kgo.DefaultProduceTopic("events"))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	j := ingest.New(in, st)
	defer j.Close()
	for total := int64(0); total < n; {
		stats, err := j.RunBatch(ctx)
		require.NoError(t, err)
		total += stats.Events
	}
	counts, err := compact.New("compact", compact.Options{TimestampUnit: in.TimestampUnit, TargetFileBytes: in.TargetFileBytes, RowGroupBytes: 384 << 10, ColumnIndexes: columnIndexes, SpoolDir: in.SpoolDir}, st).Run(ctx, time.Now())
	require.NoError(t, err)
	require.Positive(t, counts["outputs"], "compaction merged the older hour")

	schema, ok, err := lake.LoadSchema(ctx, st, interopTable)
	require.NoError(t, err)
	require.True(t, ok)
	l := &interopLake{root: root, cols: schema.AllColumns(), events: events}
	objs, err := st.List(ctx, interopTable+"/")
	require.NoError(t, err)
	compacted := 0
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		if strings.Contains(o.Key, "compacted-") {
			compacted++
		}
		f := interopFile{key: o.Key, path: filepath.Join(root, filepath.FromSlash(o.Key))}
		f.rows, err = parquetfile.ReadRows(f.path, l.cols, lake.Millis)
		require.NoError(t, err)
		f.groups = rowGroupSizes(t, f.path)
		l.files = append(l.files, f)
	}
	require.Positive(t, compacted, "objects from compaction")
	require.Greater(t, len(l.files), compacted, "objects from ingest")
	l.checkEvents(t)
	return l
}

// checkEvents checks the reference rows against the events produced: each
// event exactly once, with its typed values.
func (l *interopLake) checkEvents(t *testing.T) {
	t.Helper()
	col := map[string]int{}
	for i, c := range l.cols {
		col[c.Name] = i
	}
	seen := map[string]bool{}
	for _, f := range l.files {
		for _, r := range f.rows {
			raw := r[col["raw_event"]].(string)
			want, ok := l.events[raw]
			require.True(t, ok, "a row of no event: %.200s", raw)
			require.False(t, seen[raw], "event twice: %.200s", raw)
			seen[raw] = true
			for name, v := range want {
				got := r[col[name]]
				require.Equal(t, v, got, "%s of %.200s", name, raw)
			}
			var nested map[string]any
			require.NoError(t, json.Unmarshal([]byte(r[col["nested"]].(string)), &nested))
			require.Len(t, nested, 2)
		}
	}
	require.Len(t, seen, len(l.events), "every event in the lake")
}

func rowGroupSizes(t *testing.T, path string) []int64 {
	t.Helper()
	var sizes []int64
	q := fmt.Sprintf(`SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata('%s') ORDER BY row_group_id`, path)
	require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error {
		var id, n int64
		err := r.Scan(&id, &n)
		sizes = append(sizes, n)
		return err
	}))
	return sizes
}

// readerFile is what a reader says about one file, in the shape the
// reader scripts print.
type readerFile struct {
	Path      string            `json:"path"`
	CreatedBy string            `json:"created_by"`
	RowGroups []int64           `json:"row_groups"`
	Rows      [][]any           `json:"rows"`
	Chunks    []readerChunkStat `json:"chunks"`
}

type readerChunkStat struct {
	RowGroup      int      `json:"row_group"`
	Column        string   `json:"column"`
	NullCount     *int64   `json:"null_count"`
	Min           any      `json:"min"`
	Max           any      `json:"max"`
	Encodings     []string `json:"encodings"`
	Dictionary    bool     `json:"dictionary"`
	PageFirstRows []int64  `json:"page_first_rows"`
	// The column index, where there is one (parquet-java reads it).
	NullPages      []bool  `json:"null_pages"`
	PageNullCounts []int64 `json:"page_null_counts"`
	PageMins       []any   `json:"page_mins"`
	PageMaxes      []any   `json:"page_maxes"`
}

// runReader runs a reader program over the fixture's files and decodes
// its JSON (numbers kept exact).
func runReader(t *testing.T, l *interopLake, name string, argv ...string) []readerFile {
	t.Helper()
	for _, f := range l.files {
		argv = append(argv, f.path)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s", name, stderr.String())
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var files []readerFile
	require.NoError(t, dec.Decode(&files), name)
	require.Len(t, files, len(l.files), name)
	return files
}

// value normalizes a reader's value of a column to what parquet-go gives:
// int64, float64, bool, string or nil.
func value(t *testing.T, typ string, v any) any {
	t.Helper()
	n, isNum := v.(json.Number)
	switch {
	case v == nil:
		return nil
	case isNum && (typ == lake.TypeBigint || typ == lake.TypeTimestamp):
		i, err := n.Int64()
		require.NoError(t, err)
		return i
	case isNum:
		f, err := n.Float64()
		require.NoError(t, err)
		return f
	}
	return v
}

// statsOf computes a row group's expected statistics of column c from
// the reference rows: null count, min and max (nil when only NULLs).
func statsOf(rows [][]any, c int) (nulls int64, lo, hi any) {
	for _, r := range rows {
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
	return nulls, lo, hi
}

// checkReader compares a reader's rows, row groups and chunk statistics
// with the reference, file by file.
func (l *interopLake) checkReader(t *testing.T, name string, files []readerFile) {
	t.Helper()
	for i, f := range l.files {
		got := files[i]
		require.True(t, strings.HasPrefix(got.CreatedBy, version.String()), "%s: created_by %q", name, got.CreatedBy)
		require.Equal(t, f.groups, got.RowGroups, "%s: row groups of %s", name, f.key)
		require.Len(t, got.Rows, len(f.rows), "%s: rows of %s", name, f.key)
		for r, row := range got.Rows {
			require.Len(t, row, len(l.cols))
			for c, v := range row {
				require.Equal(t, f.rows[r][c], value(t, l.cols[c].Type, v), "%s: %s row %d column %s", name, f.key, r, l.cols[c].Name)
			}
		}
		require.Len(t, got.Chunks, len(f.groups)*len(l.cols), "%s: chunks of %s", name, f.key)
		first := int64(0)
		for g, n := range f.groups {
			group := f.rows[first : first+n]
			for c, col := range l.cols {
				ch := got.Chunks[g*len(l.cols)+c]
				require.Equal(t, col.Name, ch.Column)
				nulls, lo, hi := statsOf(group, c)
				where := fmt.Sprintf("%s: %s row group %d column %s", name, f.key, g, col.Name)
				require.NotNil(t, ch.NullCount, where)
				require.Equal(t, nulls, *ch.NullCount, where)
				require.Equal(t, lo, value(t, col.Type, ch.Min), "min, %s", where)
				require.Equal(t, hi, value(t, col.Type, ch.Max), "max, %s", where)
				if ch.NullPages != nil { // the column index, as parquet-java reads it
					require.Len(t, ch.NullPages, len(ch.PageFirstRows), where)
					require.Len(t, ch.PageNullCounts, len(ch.PageFirstRows), where)
					for p, from := range ch.PageFirstRows {
						to := n
						if p+1 < len(ch.PageFirstRows) {
							to = ch.PageFirstRows[p+1]
						}
						nulls, lo, hi := statsOf(group[from:to], c)
						require.Equal(t, lo == nil, ch.NullPages[p], "null page %d, %s", p, where)
						require.Equal(t, nulls, ch.PageNullCounts[p], "null count of page %d, %s", p, where)
						require.Equal(t, lo, value(t, col.Type, ch.PageMins[p]), "min of page %d, %s", p, where)
						require.Equal(t, hi, value(t, col.Type, ch.PageMaxes[p]), "max of page %d, %s", p, where)
					}
				}
			}
			first += n
		}
	}
}

// readWithDuckDB reads each file with the embedded DuckDB: rows in file
// order (timestamps as epoch milliseconds) and parquet_metadata's
// statistics, in the shape of the reader scripts' output.
func readWithDuckDB(t *testing.T, l *interopLake) []readerFile {
	t.Helper()
	ctx := context.Background()
	var sel []string
	for _, c := range l.cols {
		if c.Type == lake.TypeTimestamp {
			sel = append(sel, fmt.Sprintf("epoch_ms(%q)", c.Name))
		} else {
			sel = append(sel, fmt.Sprintf("%q", c.Name))
		}
	}
	var files []readerFile
	for _, f := range l.files {
		rf := readerFile{Path: f.path}
		q := fmt.Sprintf(`SELECT %s FROM read_parquet('%s', file_row_number = true) ORDER BY file_row_number`, strings.Join(sel, ", "), f.path)
		require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error {
			row := make([]any, len(l.cols))
			ptrs := make([]any, len(row))
			for i := range row {
				ptrs[i] = &row[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				return err
			}
			for i, v := range row {
				if i32, ok := v.(int32); ok {
					row[i] = int64(i32)
				}
			}
			rf.Rows = append(rf.Rows, row)
			return nil
		}))
		q = fmt.Sprintf(`SELECT created_by FROM parquet_file_metadata('%s')`, f.path)
		require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error { return r.Scan(&rf.CreatedBy) }))
		q = fmt.Sprintf(`SELECT row_group_id, row_group_num_rows, path_in_schema, stats_null_count, stats_min_value, stats_max_value, encodings
			FROM parquet_metadata('%s') ORDER BY row_group_id, column_id`, f.path)
		require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error {
			var ch readerChunkStat
			var rows int64
			var nulls sql.NullInt64
			var lo, hi sql.NullString
			var enc string
			if err := r.Scan(&ch.RowGroup, &rows, &ch.Column, &nulls, &lo, &hi, &enc); err != nil {
				return err
			}
			if len(rf.RowGroups) == ch.RowGroup {
				rf.RowGroups = append(rf.RowGroups, rows)
			}
			if nulls.Valid {
				ch.NullCount = &nulls.Int64
			}
			typ := l.cols[slices.IndexFunc(l.cols, func(c lake.Column) bool { return c.Name == ch.Column })].Type
			ch.Min, ch.Max = duckStat(t, typ, lo), duckStat(t, typ, hi)
			ch.Encodings = strings.Split(enc, ", ")
			rf.Chunks = append(rf.Chunks, ch)
			return nil
		}))
		files = append(files, rf)
	}
	return files
}

// duckStat turns parquet_metadata's text of a statistic back into a value
// of the column's type, as a reader script would print it.
func duckStat(t *testing.T, typ string, s sql.NullString) any {
	t.Helper()
	if !s.Valid {
		return nil
	}
	switch typ {
	case lake.TypeBigint, lake.TypeDouble:
		return json.Number(s.String)
	case lake.TypeBoolean:
		return s.String == "true"
	case lake.TypeTimestamp:
		at, err := time.Parse("2006-01-02 15:04:05.999999", s.String)
		require.NoError(t, err, s.String)
		return json.Number(strconv.FormatInt(at.UnixMilli(), 10))
	}
	return s.String
}

// TestParquetInterop: the objects ingest and compaction write, with the
// default offset indexes and with column indexes too, are read by
// parquet-go, DuckDB, pyarrow and parquet-java, and every reader returns
// exactly the rows silt wrote, the same row groups, and statistics (min,
// max, null count) equal to those of the rows; parquet-java also reads the
// page index. Trino reads the same objects in
// TestParquetInteropTrinoIntegration. pyarrow and parquet-java come from
// .ci/install-deps (into ~/.cache/silt); without them a reader's subtest
// fails in CI and skips elsewhere.
func TestParquetInterop(t *testing.T) {
	for _, columnIndexes := range []bool{false, true} {
		t.Run(fmt.Sprintf("column_indexes=%v", columnIndexes), func(t *testing.T) {
			l := newInteropLake(t, columnIndexes)
			t.Run("duckdb", func(t *testing.T) { l.checkReader(t, "duckdb", readWithDuckDB(t, l)) })
			t.Run("pyarrow", func(t *testing.T) {
				l.checkReader(t, "pyarrow", runReader(t, l, "pyarrow", pyarrowPython(t), "testdata/read_pyarrow.py"))
			})
			t.Run("parquet-java", func(t *testing.T) {
				files := runReader(t, l, "parquet-java", "java", "-cp", parquetJavaClasspath(t), "testdata/ReadParquetJava.java")
				l.checkReader(t, "parquet-java", files)
				l.checkDictionaries(t, files)
				l.checkPageIndexes(t, files, columnIndexes)
			})
		})
	}
}

// checkDictionaries: dictionary pages where values repeat, and none where
// they do not, as parquet-java reads the chunks.
func (l *interopLake) checkDictionaries(t *testing.T, files []readerFile) {
	t.Helper()
	host := slices.IndexFunc(l.cols, func(c lake.Column) bool { return c.Name == "host" })
	raw := slices.IndexFunc(l.cols, func(c lake.Column) bool { return c.Name == "raw_event" })
	for _, f := range files {
		for g := range f.RowGroups {
			require.True(t, f.Chunks[g*len(l.cols)+host].Dictionary, "host of %s", f.Path)
			require.Contains(t, f.Chunks[g*len(l.cols)+host].Encodings, "RLE_DICTIONARY")
			require.False(t, f.Chunks[g*len(l.cols)+raw].Dictionary, "raw_event of %s", f.Path)
		}
	}
}

// checkPageIndexes: an offset index on every chunk, as parquet-java reads
// them; without columnIndexes no column index, and with them the kinds
// the fixture makes: a page of only NULLs (checkReader checks each flag
// against the rows) and a chunk of several pages.
func (l *interopLake) checkPageIndexes(t *testing.T, files []readerFile, columnIndexes bool) {
	t.Helper()
	indexed, nullPages, multiPage := 0, 0, 0
	for i, f := range files {
		for _, ch := range f.Chunks {
			require.NotEmpty(t, ch.PageFirstRows, "offset index of %s in %s", ch.Column, l.files[i].key)
			if ch.NullPages == nil {
				continue
			}
			indexed++
			if slices.Contains(ch.NullPages, true) {
				nullPages++
			}
			if len(ch.NullPages) > 1 {
				multiPage++
			}
		}
	}
	if !columnIndexes {
		require.Zero(t, indexed, "column indexes written by default")
		return
	}
	require.Positive(t, nullPages, "column indexes with a page of only NULLs")
	require.Positive(t, multiPage, "column indexes over several pages")
}

// cacheDir is where .ci/install-deps puts the readers: ~/.cache/silt.
func cacheDir(t *testing.T) string {
	t.Helper()
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	return filepath.Join(home, ".cache", "silt")
}

// pyarrowPython is the Python of the venv that has pyarrow; without one
// the test fails in CI and skips elsewhere.
func pyarrowPython(t *testing.T) string {
	t.Helper()
	py := filepath.Join(cacheDir(t), "venv", "bin", "python")
	if err := exec.Command(py, "-c", "import pyarrow").Run(); err != nil {
		stacktest.Missing(t, fmt.Sprintf("pyarrow (%s: %v): run bash .ci/install-deps", py, err))
		return ""
	}
	return py
}

// parquetJavaClasspath is the classpath of parquet-java's jars; without
// them or java the test fails in CI and skips elsewhere.
func parquetJavaClasspath(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(cacheDir(t), "parquet-java")
	jars, _ := filepath.Glob(filepath.Join(dir, "parquet-hadoop-*.jar"))
	if _, err := exec.LookPath("java"); err != nil || len(jars) == 0 {
		stacktest.Missing(t, fmt.Sprintf("java and parquet-java's jars in %s: run bash .ci/install-deps", dir))
		return ""
	}
	return filepath.Join(dir, "*")
}
