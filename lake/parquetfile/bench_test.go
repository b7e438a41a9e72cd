package parquetfile_test

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

// gameEvents is a representative ingest batch of one table: n
// purchase_sword events from silt's generator as ingest lays them out
// (system columns, then the event's fields), with each row's input size.
func gameEvents(tb testing.TB, n int) ([]lake.Column, [][]any, []int) {
	tb.Helper()
	cols := append(append([]lake.Column{}, lake.SystemColumns...),
		lake.Column{Name: "timestamp", Type: lake.TypeVarchar},
		lake.Column{Name: "host", Type: lake.TypeVarchar},
		lake.Column{Name: "user_agent", Type: lake.TypeVarchar},
		lake.Column{Name: "accept", Type: lake.TypeVarchar},
		lake.Column{Name: "user_id", Type: lake.TypeVarchar},
		lake.Column{Name: "session", Type: lake.TypeVarchar},
		lake.Column{Name: "client", Type: lake.TypeVarchar},
		lake.Column{Name: "seq", Type: lake.TypeDouble},
		lake.Column{Name: "sword", Type: lake.TypeVarchar},
		lake.Column{Name: "price", Type: lake.TypeDouble},
	)
	fields := map[string]int{"timestamp": 7, "Host": 8, "User-Agent": 9, "Accept": 10, "user_id": 11, "session": 12, "client": 13, "seq": 14, "sword": 15, "price": 16}
	g := gen.NewEvents(1, nil, []string{"purchase_sword"})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ingested := lake.Millis.Of(at.Add(time.Minute))
	var rows [][]any
	var sizes []int
	for i := 0; len(rows) < n; i++ {
		ev := g.Next(nil, at.Add(time.Duration(i)*time.Millisecond))
		var m map[string]any
		if err := json.Unmarshal(ev.JSON, &m); err != nil {
			tb.Fatal(err)
		}
		row := make([]any, len(cols))
		row[0] = lake.Millis.Of(at.Add(time.Duration(i) * time.Millisecond))
		row[1], row[2], row[3], row[4], row[5], row[6] = "event", "events", int64(0), int64(i), ingested, string(ev.JSON) // a file holds one Kafka partition
		for k, v := range m {
			if c, ok := fields[k]; ok {
				row[c] = v
			}
		}
		rows = append(rows, row)
		sizes = append(sizes, len(ev.JSON))
	}
	return cols, rows, sizes
}

// BenchmarkWriteGameEvents writes the same batch of game events with
// dictionary encoding off and on, alternating within every iteration so
// that both see the same machine: events/s (wall clock), the process's CPU
// time per event (other processes on a shared machine do not count), and
// the file's bytes per event.
func BenchmarkWriteGameEvents(b *testing.B) {
	cols, rows, sizes := gameEvents(b, 200_000)
	var input int64
	for _, s := range sizes {
		input += int64(s)
	}
	dir := b.TempDir()
	variants := []struct {
		name      string
		dict      int
		wall, cpu time.Duration
		size      int64
	}{{name: "dict_off", dict: -1}, {name: "dict_on", dict: 0}}
	b.SetBytes(input * int64(len(variants)))
	for b.Loop() {
		for i := range variants {
			v := &variants[i]
			wall, cpu := measure(b, func() {
				w, err := parquetfile.NewWriter(dir, cols, parquetfile.Options{Unit: lake.Millis, RowGroupBytes: 128 << 20, MaxDictionaryBytes: v.dict})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Discard()
				for i, r := range rows {
					if err := w.Write(r, sizes[i]); err != nil {
						b.Fatal(err)
					}
				}
				if _, v.size, err = w.Finish(); err != nil {
					b.Fatal(err)
				}
			})
			v.wall += wall
			v.cpu += cpu
		}
	}
	for _, v := range variants {
		events := float64(len(rows) * b.N)
		b.ReportMetric(events/v.wall.Seconds(), "events/s_"+v.name)
		b.ReportMetric(float64(v.cpu.Nanoseconds())/events, "cpu_ns/event_"+v.name)
		b.ReportMetric(float64(v.size)/float64(len(rows)), "bytes/event_"+v.name)
	}
}

// measure runs f and returns its wall-clock time and the CPU time (user
// and system) the process spent meanwhile.
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
