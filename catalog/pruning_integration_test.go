//go:build integration

package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// TestTrinoFiltersSiltParquetExactlyIntegration has Trino filter a file
// written by parquetfile.Writer with column indexes (ingest.column_indexes)
// whose pages Trino can skip on statistics and column indexes: pages of only NULLs, then pages of values, and the
// long raw_event strings. Every count must equal what the rows hold; a
// wrong min, max or null page would make Trino skip rows silently.
func TestTrinoFiltersSiltParquetExactlyIntegration(t *testing.T) {
	ctx := t.Context()
	tl := newTrinoLake(t)
	schema := lake.TableSchema{Table: "sparse", Columns: []lake.Column{{Name: "n", Type: lake.TypeBigint}, {Name: "f", Type: lake.TypeDouble}, {Name: "s", Type: lake.TypeVarchar}, {Name: "b", Type: lake.TypeBoolean}}}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p := lake.PartitionOf(schema.Table, at)

	const nullRows, valueRows = 6000, 6000
	rows := make([][]any, 0, nullRows+valueRows)
	for i := range nullRows + valueRows {
		row := []any{lake.Millis.Of(at), "event", "t", int64(0), int64(i), lake.Millis.Of(at), fmt.Sprintf(`{"i":%d,"pad":"%0100d"}`, i, i), nil, nil, nil, nil}
		if i >= nullRows {
			v := i - nullRows
			row[7], row[8], row[9], row[10] = int64(v), float64(v)/10, fmt.Sprintf("s%05d", v), v%3 == 0
		}
		rows = append(rows, row)
	}
	w, err := parquetfile.NewWriter(t.TempDir(), schema.AllColumns(), parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 128 << 10, ColumnIndexes: true})
	require.NoError(t, err)
	defer w.Discard()
	for _, r := range rows {
		require.NoError(t, w.Write(r, 200)) // a page every ~1300 rows
	}
	rs, size, err := w.Finish()
	require.NoError(t, err)
	require.NoError(t, tl.store.Put(ctx, lake.ObjectKey(p, "t", 0, 0), rs, size))
	require.NoError(t, lake.SaveSchema(ctx, tl.store, schema))
	c := tl.open(t)
	require.NoError(t, c.Register(ctx, []catalog.Change{{Schema: schema, Partitions: []lake.Partition{p}}}))

	count := func(where string, args ...any) int64 {
		var n int64
		q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", c.Qualified(schema.Table), where)
		require.NoError(t, c.DB().QueryRowContext(ctx, q, args...).Scan(&n), q)
		return n
	}
	require.EqualValues(t, nullRows, count("n IS NULL"))
	require.EqualValues(t, valueRows, count("n IS NOT NULL AND f IS NOT NULL AND s IS NOT NULL AND b IS NOT NULL"))
	require.EqualValues(t, 1, count("n = 42"))
	require.EqualValues(t, 1, count("s = 's00042'"))
	require.EqualValues(t, 10, count("f >= 1.0 AND f < 2.0"))
	require.EqualValues(t, (valueRows+2)/3, count("b"))
	require.EqualValues(t, 100, count("n BETWEEN 5000 AND 5099"))
	require.EqualValues(t, 1, count("raw_event = ?", fmt.Sprintf(`{"i":%d,"pad":"%0100d"}`, 7, 7)))
	require.EqualValues(t, 1, count("raw_event = ?", fmt.Sprintf(`{"i":%d,"pad":"%0100d"}`, 11000, 11000)))
	require.EqualValues(t, 0, count("raw_event = ''"))
	require.EqualValues(t, nullRows+valueRows, count("kafka_offset >= 0"))
}
