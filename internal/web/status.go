package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/probe"
	"github.com/silt-etl/silt/scheduler"
)

//go:embed status.html
var templates embed.FS

var page = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"labelWidth": func() int { return labelWidth },
	"barX":       func() int { return labelWidth + 4 },
	"barEnd":     func(w int) int { return labelWidth + 8 + w },
}).ParseFS(templates, "status.html"))

type pageData struct {
	Now         time.Time
	Connections []probe.Result
	Jobs        []jobView
	Tables      []TableInfo
	TablesErr   string
	TablesNote  string
	HasLag      bool
	Lag         []PartitionLag
	LagErr      string
	HasFresh    bool
	Fresh       []freshView
	FreshErr    string
	Reports     []report
	ReportErr   string
	Charts      []template.HTML
	ChartWindow string
}

type jobView struct {
	Name, Schedule, Next, State string
	// RunsOn says which process runs the job: every process (ingest), or
	// for a cluster-wide job the holder of its lease.
	RunsOn string
	Runs   []runView
}

type runView struct {
	Status, Scheduled, Started, Duration, Counts, Error, Process string
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.opts.Now()
	d := pageData{Now: now.UTC()}
	if s.opts.Connections != nil {
		d.Connections = s.opts.Connections()
	}
	if s.opts.Jobs != nil {
		for _, j := range s.opts.Jobs.Status() {
			d.Jobs = append(d.Jobs, viewJob(j, now))
		}
	}
	if s.opts.Tables != nil {
		tables, err := s.opts.Tables.Tables(ctx)
		if err != nil {
			d.TablesErr = err.Error()
		}
		d.Tables = tables
		if l, ok := s.opts.Tables.(LakeTables); ok {
			d.TablesNote = l.lakeCountsNote()
		}
	}
	if s.opts.Lag != nil {
		d.HasLag = true
		lag, err := s.opts.Lag.Lag(ctx)
		if err != nil {
			d.LagErr = err.Error()
		}
		d.Lag = lag
	}
	if s.opts.Freshness != nil {
		d.HasFresh = true
		fresh, err := s.opts.Freshness.Freshness(ctx)
		if err != nil {
			d.FreshErr = err.Error()
		}
		for _, f := range fresh {
			d.Fresh = append(d.Fresh, viewFreshness(f))
		}
	}
	if s.opts.Charts != nil {
		window := s.opts.Charts.Window()
		d.ChartWindow = fmt.Sprintf("%d minutes", int(window.Round(time.Minute).Minutes()))
		for _, c := range s.opts.Charts.Charts() {
			svg, err := renderChart(c, now.Add(-window), now)
			if err != nil {
				s.opts.Logger.Error("render chart", "chart", c.ID, "err", err)
				continue
			}
			d.Charts = append(d.Charts, svg)
		}
	}
	reports, err := readReports(s.opts.ReportsDir)
	if err != nil {
		d.ReportErr = err.Error()
	}
	d.Reports = reports

	// Render to a buffer first so a template error is a clean 500.
	var buf bytes.Buffer
	if err := page.Execute(&buf, d); err != nil {
		s.opts.Logger.Error("render status page", "err", err)
		http.Error(w, "render status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

type freshView struct {
	Table, NewestEvent, Age, Committed, Latency, LatencyMean string
}

func viewFreshness(f TableFreshness) freshView {
	return freshView{
		Table:       f.Table,
		NewestEvent: f.NewestEvent.UTC().Format(time.DateTime),
		Age:         f.Age.Round(time.Second).String(),
		Committed:   f.CommittedAt.UTC().Format(time.DateTime),
		Latency:     fmt.Sprintf("%s – %s", f.LatencyMin.Round(time.Millisecond), f.LatencyMax.Round(time.Millisecond)),
		LatencyMean: f.LatencyMean.Round(time.Millisecond).String(),
	}
}

func viewJob(j scheduler.JobStatus, now time.Time) jobView {
	v := jobView{Name: j.Name, Schedule: j.Schedule, State: "idle"}
	switch {
	case j.Schedule == "":
		v.Schedule = "after " + j.After
	case j.After != "":
		v.Schedule += ", then after " + j.After
	}
	switch {
	case j.Running && j.Queued:
		v.State = "running, one queued"
	case j.Running:
		v.State = "running"
	case j.Waiting:
		v.State = "waiting for " + j.After
	case j.HeldUntil.After(now):
		v.State = fmt.Sprintf("held off until %s: it failed in a way retrying cannot fix (%s)", j.HeldUntil.UTC().Format(time.TimeOnly), j.HeldBy)
	case j.ClusterWide && j.Lease.Held(now) && !j.LeaseHere:
		v.State = "running on " + j.Lease.Holder
	}
	v.RunsOn = runsOn(j, now)
	if !j.Next.IsZero() {
		v.Next = fmt.Sprintf("%s (in %s)", j.Next.UTC().Format(time.DateTime), j.Next.Sub(now).Round(time.Second))
	}
	for _, r := range j.Last {
		v.Runs = append(v.Runs, runView{
			Status:    r.Status,
			Scheduled: r.Scheduled.UTC().Format(time.DateTime),
			Started:   r.Start.UTC().Format(time.DateTime),
			Duration:  r.Duration().Round(time.Millisecond).String(),
			Counts:    formatCounts(r.Counts),
			Error:     r.Error,
			Process:   r.Process,
		})
	}
	return v
}

// runsOn is where a job runs: on every process, or for a cluster-wide job
// on the holder of its lease, as this process last saw it.
func runsOn(j scheduler.JobStatus, now time.Time) string {
	if !j.ClusterWide {
		return "every process"
	}
	l := j.Lease
	var s string
	switch {
	case l.Holder == "":
		s = "one process per slot (no slot yet)"
	case l.Held(now):
		s = fmt.Sprintf("lease held by %s until %s UTC (slot %s)", l.Holder, l.Expires.UTC().Format(time.TimeOnly), l.Slot.UTC().Format(time.TimeOnly))
	default:
		s = fmt.Sprintf("last slot (%s) ran on %s", l.Slot.UTC().Format(time.TimeOnly), l.Holder)
	}
	if j.LeaseHere {
		s += " (this process)"
	}
	if j.Elsewhere > 0 {
		s += fmt.Sprintf("; %d slots of this process ran elsewhere", j.Elsewhere)
	}
	return s
}

func formatCounts(c map[string]int64) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}
