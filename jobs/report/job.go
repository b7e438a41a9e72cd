package report

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/ident"
	reportsql "github.com/silt-etl/silt/sql"
)

// Job is a scheduled report: each run writes <out>/<job>/<scheduled
// time>.csv and replaces latest.csv, and notifies when the alert holds.
type Job struct {
	name     string
	report   *reportsql.Report
	params   map[string]string
	engine   func(ctx context.Context) (Engine, error)
	out      string
	notifier *Notifier
	log      *slog.Logger
	// onlyOnAlert: see JobOptions.OnlyOnAlert.
	onlyOnAlert bool
	watermark   *WatermarkOptions
	table       *TableOptions
	publish     *PublishOptions
	now         func() time.Time
}

// JobOptions configure a report job.
type JobOptions struct {
	Report *reportsql.Report
	// Params are text, resolved per run against the scheduled time.
	Params map[string]string
	// Engine is what the report queries. When it is nil, Catalog is asked
	// for it on every run: a catalog that is down at start-up (see
	// catalog.Lazy) then delays the report, which the scheduler retries and
	// records, rather than leaving it out.
	Engine  Engine
	Catalog func(ctx context.Context) (*catalog.Catalog, error)
	// OutDir holds a directory of CSVs per job.
	OutDir string
	// OnlyOnAlert writes the CSV (and notifies) only on runs where the
	// report's alert holds for some row (a job's on: alert).
	OnlyOnAlert bool
	// Notifier, when set and enabled, is sent the alerts.
	Notifier *Notifier
	// Logger gets a line per alert; nil discards it.
	Logger *slog.Logger
	// Watermark, when set, makes a windowed report emit only the windows
	// the event-time watermark closed (see WatermarkOptions).
	Watermark *WatermarkOptions
	// Table, when set, also stores the rows in a lake table (see
	// TableOptions); Publish, in a Kafka topic (see PublishOptions).
	Table   *TableOptions
	Publish *PublishOptions
}

// NewJob makes a report job. A bad parameter fails here, at start-up,
// not at the first run.
func NewJob(name string, opts JobOptions) (*Job, error) {
	if _, err := opts.Report.Values(opts.Params, time.Now()); err != nil {
		return nil, fmt.Errorf("job %s: %w", name, err)
	}
	if opts.OnlyOnAlert && opts.Report.Alert == nil {
		return nil, fmt.Errorf("job %s: on: alert, but report %s has no alert condition (add an -- alert: header, or drop on: alert)", name, opts.Report.Name)
	}
	if err := checkSinks(name, opts); err != nil {
		return nil, err
	}
	j := &Job{name: name, report: opts.Report, params: opts.Params, out: opts.OutDir, notifier: opts.Notifier, log: opts.Logger, onlyOnAlert: opts.OnlyOnAlert,
		watermark: opts.Watermark, table: opts.Table, publish: opts.Publish, now: time.Now}
	switch {
	case opts.Engine != nil:
		j.engine = func(context.Context) (Engine, error) { return opts.Engine, nil }
	case opts.Catalog != nil:
		j.engine = func(ctx context.Context) (Engine, error) {
			cat, err := opts.Catalog(ctx)
			if err != nil {
				return nil, fmt.Errorf("report %s: %w", name, err)
			}
			return cat, nil
		}
	default:
		return nil, fmt.Errorf("job %s: no engine and no catalog to run the report on", name)
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	return j, nil
}

func (j *Job) Name() string { return j.name }

// Run runs the report for the slot scheduledAt: relative params (now-1h)
// are relative to it, so a late or retried run reports on its own slot.
func (j *Job) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	values, err := j.report.Values(j.params, scheduledAt)
	if err != nil {
		return nil, err
	}
	eng, err := j.engine(ctx)
	if err != nil {
		return nil, err
	}
	// A table holds whole hours: each run rewrites the hours it covers.
	tableFrom := time.Time{}
	if start, ok := timeValue(values["start"]); ok && j.table != nil {
		tableFrom = start.Truncate(time.Hour)
		values["start"] = reportsql.Timestamp(tableFrom)
	}
	if j.watermark != nil {
		if err := j.closeWindows(ctx, eng, values); err != nil {
			return nil, err
		}
	}
	out, alertErr := Run(ctx, eng, j.report, values)
	if out == nil {
		return nil, alertErr
	}
	if j.onlyOnAlert && alertErr == nil && len(out.Fired) == 0 {
		// Quiet runs leave nothing behind: latest.csv is the last alert.
		return map[string]int64{"rows": int64(len(out.Result.Rows)), "alert_rows": 0}, nil
	}
	dir := filepath.Join(j.out, j.name)
	path := filepath.Join(dir, scheduledAt.UTC().Format("20060102T150405.000Z")+".csv")
	if err := writeAtomic(path, out.CSV); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, "latest.csv"), out.CSV); err != nil {
		return nil, err
	}
	stats, err := j.feed(ctx, out.Result, values, tableFrom)
	stats["rows"], stats["alert_rows"] = int64(len(out.Result.Rows)), int64(len(out.Fired))
	if err != nil {
		return stats, fmt.Errorf("report job %s: %w", j.name, err)
	}
	if alertErr != nil || len(out.Fired) == 0 {
		return stats, alertErr
	}
	j.log.Warn("report alert", "job", j.name, "report", j.report.Name, "condition", j.report.Alert.Text, "rows", len(out.Fired), "csv", path)
	if j.notifier.Enabled() {
		if err := j.notifier.Notify(ctx, NewAlert(j.report, j.name, scheduledAt, path, out.Fired, out.CSV)); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// closeWindows narrows values to the windows the watermark closed.
func (j *Job) closeWindows(ctx context.Context, eng Engine, values map[string]any) error {
	size, _ := WindowSize(values) // checked by NewJob
	table := j.watermark.Table
	if table == "" {
		if t, ok := values["table"].(reportsql.String); ok {
			table = string(t)
		}
	}
	newest, ok, err := NewestEventTime(ctx, eng, table)
	if err != nil {
		return fmt.Errorf("report job %s: %w", j.name, err)
	}
	wm := CloseWindows(values, size, newest, ok, j.watermark.AllowedLateness)
	end, _ := timeValue(values["end"])
	j.log.Debug("report watermark", "job", j.name, "newest_event", newest, "watermark", wm, "windows_closed_by", end)
	return nil
}

// feed hands the rows to the job's table and topic, publishing first: a
// consumer of the topic never waits on the lake. Each is idempotent, so a
// failed run is retried whole.
func (j *Job) feed(ctx context.Context, res *Result, values map[string]any, tableFrom time.Time) (map[string]int64, error) {
	stats := map[string]int64{}
	if j.publish != nil {
		n, err := publish(ctx, j.publish, j.name, res, values)
		stats["published"] = n
		if err != nil {
			return stats, err
		}
	}
	if j.table != nil {
		n, err := writeTable(ctx, j.table, j.name, res, tableFrom, j.now().UTC())
		stats["table_rows"] = n
		if err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// checkSinks refuses, at start-up, a watermark on a report that has no
// windows, and sinks without what they need.
func checkSinks(name string, opts JobOptions) error {
	values, err := opts.Report.Values(opts.Params, time.Now())
	if err != nil {
		return fmt.Errorf("job %s: %w", name, err)
	}
	if opts.Watermark != nil {
		_, hasStart := timeValue(values["start"])
		_, hasEnd := timeValue(values["end"])
		if _, ok := WindowSize(values); !ok || !hasStart || !hasEnd {
			return fmt.Errorf("job %s: watermark: report %s needs a window (a window=duration or window_minutes=int param, not 0) and start and end timestamp params; use a windowed report such as window_average or event_counts_by_window, or drop watermark", name, opts.Report.Name)
		}
		if opts.Watermark.AllowedLateness < 0 {
			return fmt.Errorf("job %s: watermark.allowed_lateness: %s is negative: use 0s or more, e.g. 30s", name, opts.Watermark.AllowedLateness)
		}
	}
	if t := opts.Table; t != nil && (!ident.Valid(t.Name) || t.Store == nil || t.Registrar == nil) {
		return fmt.Errorf("job %s: table.name %q: name the table like moving_averages (letters, digits and _), and give the job the lake and catalog", name, t.Name)
	}
	if p := opts.Publish; p != nil && (p.Topic == "" || p.Store == nil) {
		return fmt.Errorf("job %s: publish.topic is empty: name the Kafka topic the rows go to", name)
	}
	return nil
}

// Outcome is one run of a report: its result, as CSV, and the rows for
// which its alert holds (none without an alert).
type Outcome struct {
	Result *Result
	CSV    []byte
	Fired  []map[string]any
}

// Run runs report r with its resolved parameter values on e: the one run
// path of both a scheduled report job and `silt report`, which differ
// only in where the CSV goes and when alerts are sent. When only the
// alert cannot be evaluated, the error comes with the outcome, so the
// CSV is still written.
func Run(ctx context.Context, e Engine, r *reportsql.Report, values map[string]any) (*Outcome, error) {
	res, err := Execute(ctx, e, r, values)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := res.WriteCSV(&buf); err != nil {
		return nil, fmt.Errorf("report %s: csv: %w", r.Name, err)
	}
	out := &Outcome{Result: res, CSV: buf.Bytes()}
	if out.Fired, err = Fired(r, res, values); err != nil {
		return out, err
	}
	return out, nil
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
	defer func() { _ = os.Remove(tmp.Name()) }()
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
