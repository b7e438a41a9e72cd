package report

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	reportsql "github.com/silt-etl/silt/sql"
)

// Job is a scheduled report: each run writes <out>/<job>/<scheduled
// time>.csv and replaces latest.csv, and notifies when the alert holds.
type Job struct {
	name     string
	report   *reportsql.Report
	params   map[string]string
	engine   engine
	out      string
	notifier *Notifier
}

// NewJob makes a report job; params are text, resolved per run against
// the scheduled time. notifier may be nil.
func NewJob(name string, r *reportsql.Report, params map[string]string, e engine, outDir string, n *Notifier) (*Job, error) {
	// Resolve once now so a bad param fails at start, not at the first run.
	if _, err := r.Values(params, time.Now()); err != nil {
		return nil, fmt.Errorf("job %s: %w", name, err)
	}
	return &Job{name: name, report: r, params: params, engine: e, out: outDir, notifier: n}, nil
}

func (j *Job) Name() string { return j.name }

// Run runs the report for the slot scheduledAt: relative params (now-1h)
// are relative to it, so a late or retried run reports on its own slot.
func (j *Job) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	values, err := j.report.Values(j.params, scheduledAt)
	if err != nil {
		return nil, err
	}
	res, err := Execute(ctx, j.engine, j.report, values)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := res.WriteCSV(&buf); err != nil {
		return nil, fmt.Errorf("report %s: csv: %w", j.report.Name, err)
	}
	dir := filepath.Join(j.out, j.name)
	path := filepath.Join(dir, scheduledAt.UTC().Format("20060102T150405.000Z")+".csv")
	if err := writeAtomic(path, buf.Bytes()); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, "latest.csv"), buf.Bytes()); err != nil {
		return nil, err
	}
	stats := map[string]int64{"rows": int64(len(res.Rows)), "alert_rows": 0}
	fired, err := Fired(j.report, res, values)
	if err != nil {
		return stats, err
	}
	stats["alert_rows"] = int64(len(fired))
	if len(fired) == 0 {
		return stats, nil
	}
	slog.Warn("report alert", "job", j.name, "report", j.report.Name, "condition", j.report.Alert.Text, "rows", len(fired), "csv", path)
	if j.notifier.Enabled() {
		if err := j.notifier.Notify(ctx, NewAlert(j.report, j.name, scheduledAt, path, fired, buf.Bytes())); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// NewAlert describes an alert of report r run by job (for the CLI: the
// report's name) with its CSV.
func NewAlert(r *reportsql.Report, job string, scheduledAt time.Time, csvPath string, fired []map[string]any, csv []byte) Alert {
	return Alert{Report: r.Name, Job: job, Condition: r.Alert.Text, ScheduledAt: scheduledAt.UTC(), CSVPath: csvPath, Rows: fired, csv: csv}
}

// Fired is the rows (as column → formatted value) for which the report's
// alert holds; none when it has no alert.
func Fired(r *reportsql.Report, res *Result, values map[string]any) ([]map[string]any, error) {
	if r.Alert == nil {
		return nil, nil
	}
	col := -1
	for i, c := range res.Columns {
		if c == r.Alert.Column {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("report %s: alert %q names column %s, which the query does not return", r.Name, r.Alert.Text, r.Alert.Column)
	}
	var out []map[string]any
	for _, row := range res.Rows {
		ok, err := r.Alert.Holds(row[col], values)
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", r.Name, err)
		}
		if ok {
			m := map[string]any{}
			for i, c := range res.Columns {
				m[c] = Format(row[i])
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// writeAtomic writes via a temp file, fsync and rename, so a reader of
// latest.csv sees the old report or the new one, never half of one.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
