package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/jobs/report"
	reportsql "github.com/silt-etl/silt/sql"
)

func init() {
	register(&command{
		name: "report", usage: "NAME [--out F] [--param k=v]... [--as-of TIME|SNAPSHOT_ID] [--notify] | --list | --job JOB [--at TIME]", order: 30,
		summary: "run one report now, CSV to a file or stdout",
		run:     runReport,
	})
}

// paramFlags collects repeated --param k=v.
type paramFlags map[string]string

func (p paramFlags) String() string { return fmt.Sprint(map[string]string(p)) }

func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: write --param name=value", s)
	}
	p[k] = v
	return nil
}

func runReport(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	out := fs.String("out", "", "write the CSV to this file (default: stdout)")
	list := fs.Bool("list", false, "list the reports and their params")
	notify := fs.Bool("notify", false, "send the configured alerts when the report's alert condition holds")
	asOf := fs.String("as-of", "", "read the tables as of a time (2026-05-01T10:00:00Z) or a snapshot id (Iceberg tables only; a snapshot id reads its one table)")
	params := paramFlags{}
	fs.Var(params, "param", "a report param, name=value (repeatable); times: RFC 3339, 2024-05-01 10:00 (UTC) or now-1h")
	job := fs.String("job", "", "run this configured report job once, as silt run does: its CSV in reports.out, its watermark, table and topic")
	at := fs.String("at", "", "with --job: the slot to run (RFC 3339; default now): a re-run of a slot replaces its rows")
	name, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	cfg, err := common.load()
	if err != nil {
		return err
	}
	if *job != "" {
		if name != "" || len(params) > 0 || *out != "" || *asOf != "" {
			return fmt.Errorf("--job runs the job as configured: give no report NAME, --param, --out or --as-of with it")
		}
		return runReportJob(ctx, cfg, *job, *at, *notify)
	}
	reports, err := reportsql.Load(cfg.Reports.Dir)
	if err != nil {
		return err
	}
	if *list {
		return listReports(os.Stdout, reports)
	}
	r, ok := reports[name]
	if !ok {
		if name == "" {
			return errUsage
		}
		return fmt.Errorf("no report %q (have %s)", name, strings.Join(reportsql.Names(reports), ", "))
	}
	var point catalog.AsOf
	if *asOf != "" {
		if point, err = catalog.ParseAsOf(*asOf); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	values, err := r.Values(params, now)
	if err != nil {
		return err
	}
	cat, err := openQueryCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	var engine report.Engine = cat
	if *asOf != "" {
		if engine, err = cat.AsOf(ctx, point); err != nil {
			return err
		}
	}
	res, alertErr := report.Run(ctx, engine, r, values)
	if res == nil {
		return alertErr
	}
	if *out == "" {
		if _, err := os.Stdout.Write(res.CSV); err != nil {
			return err
		}
	} else if err := os.WriteFile(*out, res.CSV, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if alertErr != nil || len(res.Fired) == 0 {
		return alertErr
	}
	fmt.Fprintf(os.Stderr, "alert %q holds for %d row(s)\n", r.Alert.Text, len(res.Fired))
	if !*notify {
		return nil
	}
	n := report.NewNotifier(alertOptions(cfg))
	if !n.Enabled() {
		return fmt.Errorf("--notify: no reports.alerts.webhook or reports.alerts.smtp configured")
	}
	return n.Notify(ctx, report.NewAlert(r, name, now, *out, res.Fired, res.CSV))
}

func listReports(w io.Writer, reports map[string]*reportsql.Report) error {
	for _, n := range reportsql.Names(reports) {
		r := reports[n]
		var ps []string
		for _, p := range r.Params {
			s := p.Name + "=" + p.Type
			if p.Default != "" {
				s += ":" + p.Default
			}
			ps = append(ps, s)
		}
		fmt.Fprintf(w, "%s\n  %s\n  params: %s\n", n, r.Description, strings.Join(ps, ", "))
		if r.Alert != nil {
			fmt.Fprintf(w, "  alert: %s\n", r.Alert.Text)
		}
	}
	return nil
}
