package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/scheduler"
)

func init() {
	register(&command{
		name: "jobs", usage: "[--config F] [--last N]", order: 60,
		summary: "jobs, schedules, next run and last runs (from the run history)",
		run:     runJobs,
	})
}

func runJobs(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	last := fs.Int("last", 5, "how many recent runs to show per job")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	hist, err := scheduler.OpenHistory(ctx, store, 0)
	if err != nil {
		return err
	}
	loc, err := cfg.Scheduler.Location()
	if err != nil {
		return err
	}
	leases := map[string]jobLease{}
	for _, j := range cfg.Jobs {
		if !clusterWideKind(j.Kind) {
			continue
		}
		l, ok, err := scheduler.ReadLease(ctx, store, j.Name)
		leases[j.Name] = jobLease{lease: l, taken: ok, err: err}
	}
	return printJobs(os.Stdout, cfg.Jobs, loc, hist, leases, time.Now(), *last)
}

// jobLease is a cluster-wide job's lease as `silt jobs` read it.
type jobLease struct {
	lease scheduler.Lease
	taken bool // some process took it once
	err   error
}

// runsOn says where a job runs: every process (ingest), or, for a
// cluster-wide job, the process holding its lease or that ran its last slot.
func runsOn(j config.Job, l jobLease, now time.Time) string {
	switch {
	case !clusterWideKind(j.Kind):
		return "every process"
	case l.err != nil:
		return "one process (lease unreadable: " + l.err.Error() + ")"
	case !l.taken:
		return "one process (no slot yet)"
	case l.lease.Held(now):
		return fmt.Sprintf("lease held by %s until %s", l.lease.Holder, l.lease.Expires.UTC().Format(time.DateTime))
	}
	return fmt.Sprintf("last ran on %s (slot %s)", l.lease.Holder, l.lease.Slot.UTC().Format(time.DateTime))
}

// printJobs writes one block per job: its schedule and next slot (computed
// in loc, scheduler.timezone, as silt run does; shown in UTC like every
// time here), where it runs (leases: the cluster-wide jobs' leases), then
// its most recent runs, newest first, with the process that ran each.
func printJobs(w io.Writer, jobs []config.Job, loc *time.Location, hist *scheduler.History, leases map[string]jobLease, now time.Time, last int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tKIND\tSCHEDULE\tNEXT RUN (UTC)\tLAST SUCCESS (UTC)\tRUNS ON")
	for _, j := range jobs {
		sched := j.Schedule
		next := "-"
		if j.Schedule != "" {
			s, err := scheduler.Slots(j.Schedule, loc)
			if err != nil {
				return fmt.Errorf("job %s: %w", j.Name, err)
			}
			next = s.Next(now).UTC().Format(time.DateTime)
		}
		if j.After != "" {
			sched = strings.TrimPrefix(sched+", then after "+j.After, ", then ")
		}
		success := "never"
		for _, r := range hist.Last(j.Name, scheduler.DefaultKeep) {
			if r.Status == scheduler.StatusOK {
				success = r.End.UTC().Format(time.DateTime)
				break
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, j.Kind, sched, next, success, runsOn(j, leases[j.Name], now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, j := range jobs {
		runs := hist.Last(j.Name, last)
		fmt.Fprintf(w, "\n%s: ", j.Name)
		if len(runs) == 0 {
			fmt.Fprintln(w, "no runs recorded")
			continue
		}
		fmt.Fprintf(w, "last %d runs\n", len(runs))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STATUS\tSCHEDULED (UTC)\tSTARTED (UTC)\tDURATION\tATTEMPTS\tON\tCOUNTS / ERROR")
		for _, r := range runs {
			detail := countsLine(r.Counts)
			if r.Error != "" {
				detail = strings.TrimSpace(detail + " error: " + r.Error)
			}
			process := r.Process
			if process == "" {
				process = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Status, r.Scheduled.UTC().Format(time.DateTime),
				r.Start.UTC().Format(time.DateTime), r.Duration().Round(time.Millisecond), max(r.Attempts, 1), process, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
