package catalogtest

import (
	"encoding/csv"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sample is one value of one key at one time: a stock tick, as the
// window_average report reads it.
type Sample struct {
	Key   string
	Value float64
	Time  time.Time
}

// WindowAverages is window_average's rows computed from the samples
// themselves, as records (header first): windows of size aligned to the
// Unix epoch, starting at or after start and ending by end; per window and
// key the count, average, min and max, and the moving average over the
// window and the previous windows before it (samples before start count).
func WindowAverages(samples []Sample, key, value string, size time.Duration, previous int, start, end time.Time) [][]string {
	type acc struct {
		n           int
		sum, lo, hi float64
		window      int64 // index: seconds since the epoch / size
		key         string
		windowStart time.Time
		spanN       int
		spanSum     float64
	}
	s := int64(size / time.Second)
	byKW := map[string]*acc{}
	for _, x := range samples {
		if !x.Time.Before(end) {
			continue
		}
		w := x.Time.Unix() / s
		id := fmt.Sprintf("%s\x00%d", x.Key, w)
		a, ok := byKW[id]
		if !ok {
			a = &acc{lo: math.Inf(1), hi: math.Inf(-1), window: w, key: x.Key, windowStart: time.Unix(w*s, 0).UTC()}
			byKW[id] = a
		}
		a.n++
		a.sum += x.Value
		a.lo, a.hi = math.Min(a.lo, x.Value), math.Max(a.hi, x.Value)
	}
	var rows []*acc
	for _, a := range byKW {
		if a.windowStart.Before(start) || a.windowStart.Add(size).After(end) {
			continue
		}
		for k := a.window - int64(previous); k <= a.window; k++ {
			if b, ok := byKW[fmt.Sprintf("%s\x00%d", a.key, k)]; ok {
				a.spanN += b.n
				a.spanSum += b.sum
			}
		}
		rows = append(rows, a)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].window != rows[j].window {
			return rows[i].window < rows[j].window
		}
		return rows[i].key < rows[j].key
	})
	out := [][]string{{"window_start", key, "count", "avg_" + value, "min_" + value, "max_" + value, "moving_avg_" + value}}
	for _, a := range rows {
		out = append(out, []string{a.windowStart.Format("2006-01-02T15:04:05.000Z"), a.key, strconv.Itoa(a.n),
			fmtFloat(a.sum / float64(a.n)), fmtFloat(a.lo), fmtFloat(a.hi), fmtFloat(a.spanSum / float64(a.spanN))})
	}
	return out
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// DiffWindowAverages says how got (window_average's CSV) differs from
// want (WindowAverages), "" when it does not: the same rows and keys, the
// same counts, and the numbers within 1e-6 (the report rounds averages to
// six places).
func DiffWindowAverages(want [][]string, got string) string {
	recs, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil {
		return err.Error()
	}
	if len(recs) != len(want) {
		return fmt.Sprintf("%d records, want %d:\n%s", len(recs), len(want), got)
	}
	for i := range want {
		if len(recs[i]) != len(want[i]) {
			return fmt.Sprintf("record %d: %v, want %v", i, recs[i], want[i])
		}
		for c := range want[i] {
			if i == 0 || c < 3 {
				if recs[i][c] != want[i][c] {
					return fmt.Sprintf("record %d column %s: %q, want %q", i, want[0][c], recs[i][c], want[i][c])
				}
				continue
			}
			w, err1 := strconv.ParseFloat(want[i][c], 64)
			g, err2 := strconv.ParseFloat(recs[i][c], 64)
			if err1 != nil || err2 != nil || math.Abs(w-g) > 1e-6 {
				return fmt.Sprintf("record %d column %s: %q, want %q", i, want[0][c], recs[i][c], want[i][c])
			}
		}
	}
	return ""
}
