// Package scheduler runs silt's jobs on cron schedules: one run of a job at
// a time (skip or queue one), bounded retries with backoff and jitter,
// chaining (a job runs after another succeeds), catch-up of a slot missed
// while silt was down, and a run history that survives restarts. It knows
// nothing of Kafka or Parquet: a job is a Name and a Run.
package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one unit of scheduled work. Run gets the time the run was
// scheduled for, not the wall clock, so a late or retried run still works on
// its own slot; it returns counts (rows, files, ...) for the history.
type Job interface {
	Name() string
	Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error)
}

// Overlap policies: what happens when a run is due while the last one runs.
const (
	OverlapSkip  = "skip"  // the due run is skipped and counted
	OverlapQueue = "queue" // one run waits; more are skipped
)

// Spec is how one job is scheduled.
type Spec struct {
	// Schedule is a cron expression (5 fields, or 6 with leading seconds),
	// a descriptor (@hourly, @every 30s), optionally prefixed by
	// CRON_TZ=Area/City. Empty: the job only runs after its After job.
	Schedule string
	// After chains the job to another: it runs when that job succeeds. With
	// a Schedule too, the job becomes due on its schedule and then runs
	// after the next success of After, so it always sees fresh data.
	After      string
	Overlap    string
	Retries    int
	RetryDelay time.Duration
	// Catchup runs a slot missed while silt was down once at start.
	Catchup bool
	// ClusterWide jobs run on one process per slot among the processes
	// sharing the lake, through a lease (Options.Leases; see lease.go).
	// The slot of a chained run is the slot of the run that fed it, so a
	// cluster-wide job after a per-process one (a report after ingest)
	// runs once per slot, on the first process whose upstream succeeded.
	ClusterWide bool
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron expression. Without a CRON_TZ= prefix it is
// evaluated in loc (robfig/cron alone would use the machine's local zone,
// which differs between a laptop and a container).
func ParseSchedule(expr string, loc *time.Location) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if loc == nil {
		loc = time.UTC
	}
	if !strings.HasPrefix(expr, "TZ=") && !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "@every") {
		expr = "CRON_TZ=" + loc.String() + " " + expr
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w (write 5 fields like \"*/5 * * * *\", 6 with seconds, or \"@every 30s\")", expr, err)
	}
	return s, nil
}
