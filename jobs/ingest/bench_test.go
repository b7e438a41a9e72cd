package ingest

import (
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// BenchmarkDecodeAndEncode is ingest without Kafka or the store: JSON
// decode, typing and Snappy Parquet encoding of game events into a spool
// file. It is the ceiling the end-to-end pipeline is measured against.
// Every iteration runs it with dictionary encoding off and then on (the
// default), so both see the same machine: events/s (wall clock), the
// process's CPU time per event, and the Parquet bytes written per event.
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
	variants := []struct {
		name      string
		dict      int
		wall, cpu time.Duration
		written   int64 // Parquet bytes of the last iteration
	}{{name: "dict_off", dict: -1}, {name: "dict_on", dict: 0}}
	b.SetBytes(bytes * int64(len(variants)))
	b.ReportAllocs()
	for b.Loop() {
		for k := range variants {
			v := &variants[k]
			wall, cpu := measure(b, func() { v.written = decodeAndEncode(b, values, dir, at, v.dict) })
			v.wall += wall
			v.cpu += cpu
		}
	}
	for _, v := range variants {
		events := float64(n * b.N)
		b.ReportMetric(events/v.wall.Seconds(), "events/s_"+v.name)
		b.ReportMetric(float64(v.cpu.Nanoseconds())/events, "cpu_ns/event_"+v.name)
		b.ReportMetric(float64(v.written)/n, "bytes/event_"+v.name)
	}
	_ = os.RemoveAll(dir)
}

// decodeAndEncode ingests values into Parquet files in dir, one per
// table, and returns the bytes written.
func decodeAndEncode(b *testing.B, values [][]byte, dir string, at time.Time, maxDictionaryBytes int) int64 {
	b.Helper()
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
			opts := parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 32 << 20, MaxDictionaryBytes: maxDictionaryBytes}
			f, err = openParquet(dir, ev.table, lake.Partition{}, 0, t.schema.AllColumns(), opts, at)
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
	var written int64
	for _, f := range files {
		_, size, err := f.w.Finish()
		if err != nil {
			b.Fatal(err)
		}
		written += size
		f.w.Discard()
	}
	return written
}

// measure runs f and returns its wall-clock time and the CPU time (user
// and system) the process spent meanwhile: other processes on a shared
// machine do not count.
func measure(tb testing.TB, f func()) (wall, cpu time.Duration) {
	tb.Helper()
	cpuTime := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			tb.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start, startCPU := time.Now(), cpuTime()
	f()
	return time.Since(start), cpuTime() - startCPU
}
