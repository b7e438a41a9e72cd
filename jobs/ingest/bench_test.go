package ingest

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/lake"
)

// BenchmarkDecodeAndEncode is ingest without Kafka or the store: JSON
// decode, typing and Snappy Parquet encoding of game events into a spool
// file. It is the ceiling the end-to-end pipeline is measured against.
func BenchmarkDecodeAndEncode(b *testing.B) {
	const n = 100_000
	g := gen.NewEvents(1, nil, nil)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	values := make([][]byte, n)
	var bytes int64
	for i := range values {
		values[i] = g.Next(nil, at).JSON
		bytes += int64(len(values[i]))
	}
	dir := b.TempDir()
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		d := newDecoder("event_type", "timestamp")
		tables := map[string]*table{}
		files := map[string]*parquetFile{}
		var fields []typed
		for i, v := range values {
			ev, dl := d.decode(v, at)
			if dl != nil {
				b.Fatal(dl)
			}
			t := tables[ev.table]
			if t == nil {
				t = newTable(lake.TableSchema{Table: ev.table}, TableDecl{})
				tables[ev.table] = t
			}
			fields, dl = t.typeFields(&ev, lake.Millis, fields)
			if dl != nil {
				b.Fatal(dl)
			}
			if cols := newColumns(fields); len(cols) > 0 {
				// As committing them to the lake would (without the store).
				s := t.schema
				s.Columns = append(slices.Clone(s.Columns), cols...)
				if err := t.adopt(s); err != nil {
					b.Fatal(err)
				}
				fields, _ = t.typeFields(&ev, lake.Millis, fields)
			}
			ncols := len(lake.SystemColumns) + len(t.schema.Columns)
			f := files[ev.table]
			if f != nil && f.columns != ncols {
				b.Fatal("schema grew mid-benchmark")
			}
			if f == nil {
				var err error
				f, err = openParquet(dir, ev.table, lake.Partition{}, 0, t.schema.AllColumns(), lake.Millis, 32<<20, at)
				if err != nil {
					b.Fatal(err)
				}
				files[ev.table] = f
			}
			row := eventRow{value: v, fields: fields, eventTime: lake.Millis.Of(ev.eventTime), topic: "events", offset: int64(i)}
			row.writeTo(f.w)
			if err := f.w.EndRow(len(v)); err != nil {
				b.Fatal(err)
			}
		}
		for _, f := range files {
			if _, _, err := f.w.Finish(); err != nil {
				b.Fatal(err)
			}
			f.w.Discard()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	_ = os.RemoveAll(dir)
}
