//go:build integration

package parquetfile_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// TestParquetInteropTrinoIntegration: Trino's Hive connector reads the
// objects ingest and compaction wrote (the fixture of TestParquetInterop,
// with the default offset indexes and with column indexes too, uploaded
// to the stack's MinIO) and returns exactly the rows silt wrote. Per
// column, filters on its smallest, a middle and its largest value, and IS
// NULL, count what the rows hold: Trino skips row groups and pages on
// silt's statistics and page indexes, so a wrong min, max, null count,
// null page or page location would lose rows silently.
func TestParquetInteropTrinoIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	for _, columnIndexes := range []bool{false, true} {
		t.Run(fmt.Sprintf("column_indexes=%v", columnIndexes), func(t *testing.T) {
			checkTrinoReads(t, ep, newInteropLake(t, columnIndexes))
		})
	}
}

func checkTrinoReads(t *testing.T, ep *stack.Endpoints, l *interopLake) {
	t.Helper()
	ctx := t.Context()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "it_parquet_" + hex.EncodeToString(b)
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: name,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	var all [][]any
	for _, f := range l.files {
		raw, err := os.ReadFile(f.path)
		require.NoError(t, err)
		require.NoError(t, store.Put(ctx, f.key, bytes.NewReader(raw), int64(len(raw))))
		all = append(all, f.rows...)
	}
	schema := lake.TableSchema{Table: interopTable, Columns: l.cols[len(lake.SystemColumns):]}
	require.NoError(t, lake.SaveSchema(ctx, store, schema))
	parts, err := lake.Partitions(ctx, store, interopTable)
	require.NoError(t, err)
	require.Len(t, parts, 2)
	c, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: name, Location: ep.TrinoSchemaLocation + name + "/"}}, store)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	require.NoError(t, c.Register(ctx, []catalog.Change{{Schema: schema, Partitions: parts}}))
	table := c.Qualified(interopTable)

	// Every row, keyed by raw_event (unique), timestamps as epoch millis.
	var sel []string
	for _, col := range l.cols {
		if col.Type == lake.TypeTimestamp {
			sel = append(sel, fmt.Sprintf(`date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', %q)`, col.Name))
		} else {
			sel = append(sel, fmt.Sprintf("%q", col.Name))
		}
	}
	rawCol := slices.IndexFunc(l.cols, func(c lake.Column) bool { return c.Name == "raw_event" })
	want := map[string][]any{}
	for _, r := range all {
		want[r[rawCol].(string)] = r
	}
	rows, err := c.DB().QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(sel, ", "), table))
	require.NoError(t, err)
	got := 0
	for rows.Next() {
		row := make([]any, len(l.cols))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		w, ok := want[row[rawCol].(string)]
		require.True(t, ok, "Trino read a row silt did not write: %.200s", row[rawCol])
		require.Equal(t, w, row)
		got++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, len(all), got, "rows Trino read")

	count := func(where string, args ...any) int64 {
		var n int64
		q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", table, where)
		require.NoError(t, c.DB().QueryRowContext(ctx, q, args...).Scan(&n), q)
		return n
	}
	for i, col := range l.cols {
		values := make([]any, 0, len(all))
		nulls := int64(0)
		for _, r := range all {
			if r[i] == nil {
				nulls++
			} else {
				values = append(values, r[i])
			}
		}
		require.Equal(t, nulls, count(fmt.Sprintf("%q IS NULL", col.Name)), "NULLs of %s", col.Name)
		if len(values) == 0 {
			continue
		}
		slices.SortFunc(values, func(a, b any) int {
			if less(a, b) {
				return -1
			}
			if less(b, a) {
				return 1
			}
			return 0
		})
		for _, v := range []any{values[0], values[len(values)/2], values[len(values)-1]} {
			var n int64
			for _, x := range values {
				if x == v {
					n++
				}
			}
			if col.Type == lake.TypeTimestamp {
				lit := time.UnixMilli(v.(int64)).UTC().Format("2006-01-02 15:04:05.000")
				require.Equal(t, n, count(fmt.Sprintf("%q = TIMESTAMP '%s'", col.Name, lit)), "%s = %s", col.Name, lit)
				continue
			}
			require.Equal(t, n, count(fmt.Sprintf("%q = ?", col.Name), v), "%s = %.100v", col.Name, v)
		}
	}
}
