package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/report"
	reportsql "github.com/silt-etl/silt/sql"
)

// runReportJob runs the configured report job name once for the slot at
// (now when empty), as silt run would: its CSV under reports.out, its
// watermark, table and topic. Re-running a slot replaces its rows in the
// table and publishes only rows that changed. Alerts go out only with
// notify.
func runReportJob(ctx context.Context, cfg *config.Config, name, at string, notify bool) (err error) {
	var jc *config.Job
	var names []string
	for i, j := range cfg.Jobs {
		if j.Kind == "report" {
			names = append(names, j.Name)
			if j.Name == name {
				jc = &cfg.Jobs[i]
			}
		}
	}
	if jc == nil {
		sort.Strings(names)
		return fmt.Errorf("--job %s: no report job of that name in jobs (have %s)", name, strings.Join(names, ", "))
	}
	slot := time.Now().UTC()
	if at != "" {
		if slot, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return fmt.Errorf("--at %q: write an RFC 3339 time, e.g. 2026-11-30T01:51:00Z", at)
		}
	}
	reports, err := reportsql.Load(cfg.Reports.Dir)
	if err != nil {
		return err
	}
	r, ok := reports[jc.Report]
	if !ok {
		return fmt.Errorf("job %s: no report %q (have %s)", jc.Name, jc.Report, strings.Join(reportsql.Names(reports), ", "))
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	// The catalog as a reader: while silt run holds DuckDB's file, the
	// table is registered in memory here and by silt run's next run of
	// the job there.
	cat, err := openQueryCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	kafkaOpts, err := kafkaClientOpts(cfg)
	if err != nil {
		return err
	}
	opts := report.JobOptions{Report: r, Params: jc.Params, Engine: cat, OutDir: cfg.Reports.Out, OnlyOnAlert: jc.On == "alert", Logger: slog.Default()}
	if notify {
		opts.Notifier = report.NewNotifier(alertOptions(cfg))
	}
	deps := &jobDeps{cfg: cfg, store: store, kafka: kafkaOpts, log: slog.Default()}
	deps.reportSinks(*jc, &opts, cat)
	job, err := report.NewJob(jc.Name, opts)
	if err != nil {
		return err
	}
	stats, err := job.Run(ctx, slot)
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, stats[k])
	}
	fmt.Fprintf(os.Stderr, "report job %s at %s: %s\n", jc.Name, slot.Format(time.RFC3339), strings.Join(parts, " "))
	return err
}
