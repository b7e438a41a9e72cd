package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits that keep the page small whatever a report returns.
const (
	maxBars      = 20
	maxTableRows = 10
	chartWidth   = 640
	labelWidth   = 180
	barHeight    = 18
	barGap       = 4
)

// report is the latest CSV of one report, ready to render.
type report struct {
	Name     string
	Modified time.Time
	Header   []string
	Rows     [][]string // the first maxTableRows
	Total    int
	Chart    *chart
	Err      string
}

// chart is a horizontal bar chart of the main measure: the first numeric
// column by the first text column.
type chart struct {
	Label, Measure string
	Width, Height  int
	Bars           []bar
}

type bar struct {
	Label       string
	Value       string
	Y, W, TextY int
}

// readReports loads <dir>/<name>/latest.csv for every report, sorted by name.
func readReports(dir string) ([]report, error) {
	if dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list reports in %s: %w", dir, err)
	}
	var out []report
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), "latest.csv")
		st, err := os.Stat(path)
		if err != nil {
			continue // no run of this report yet
		}
		rep := report{Name: e.Name(), Modified: st.ModTime()}
		if err := rep.load(path); err != nil {
			rep.Err = err.Error()
		}
		out = append(out, rep)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *report) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // read only: ReadAll's error says it all
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s is empty", path)
	}
	r.Header, recs = recs[0], recs[1:]
	r.Total = len(recs)
	r.Rows = recs[:min(len(recs), maxTableRows)]
	r.Chart = buildChart(r.Header, recs)
	return nil
}

// buildChart picks the first column whose every value is a number as the
// measure and the first other column as the label, summing the measure of
// rows with the same label; nil when there is no numeric column.
func buildChart(header []string, rows [][]string) *chart {
	if len(rows) == 0 {
		return nil
	}
	numeric := make([]bool, len(header))
	for c := range header {
		numeric[c] = true
		for _, row := range rows {
			if c >= len(row) {
				numeric[c] = false
				break
			}
			if _, err := strconv.ParseFloat(strings.TrimSpace(row[c]), 64); err != nil {
				numeric[c] = false
				break
			}
		}
	}
	label, measure := -1, -1
	for c := range header {
		if numeric[c] && measure < 0 {
			measure = c
		}
		if !numeric[c] && label < 0 {
			label = c
		}
	}
	if measure < 0 {
		return nil
	}
	// Rows that share a label (host × event_type reports) add up to one bar.
	var labels []string
	sums := map[string]float64{}
	for i, row := range rows {
		name := strconv.Itoa(i + 1)
		if label >= 0 && label < len(row) {
			name = row[label]
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(row[measure]), 64)
		if _, seen := sums[name]; !seen {
			labels = append(labels, name)
		}
		sums[name] += v
	}
	labels = labels[:min(len(labels), maxBars)]
	peak := 0.0
	for _, l := range labels {
		peak = max(peak, sums[l])
	}
	ch := &chart{Measure: header[measure], Width: chartWidth, Height: len(labels)*(barHeight+barGap) + barGap}
	if label >= 0 {
		ch.Label = header[label]
	}
	for i, name := range labels {
		v := sums[name]
		w := 0
		if peak > 0 && v > 0 {
			w = max(1, int(v/peak*float64(chartWidth-labelWidth-80)))
		}
		y := barGap + i*(barHeight+barGap)
		ch.Bars = append(ch.Bars, bar{Label: name, Value: strconv.FormatFloat(v, 'f', -1, 64), Y: y, W: w, TextY: y + barHeight - 5})
	}
	return ch
}
