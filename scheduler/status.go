package scheduler

import (
	"context"
	"time"
)

// JobStatus is a job as the status page and `silt jobs` show it.
type JobStatus struct {
	Name     string
	Schedule string
	After    string
	Overlap  string
	// Next is the next schedule slot; zero for a job that only follows another.
	Next    time.Time
	Running bool
	Queued  bool
	// Waiting: due on its schedule, waiting for After to succeed.
	Waiting bool
	// HeldUntil is set while permanent failures in a row hold the job's
	// runs off (see IsPermanent); HeldBy is the last such failure.
	HeldUntil time.Time
	HeldBy    string
	// ClusterWide: the job runs on one process per slot among those
	// sharing the lake, through its Lease.
	ClusterWide bool
	// Lease is the job's lease: who runs it (Holder; LeaseHere when it is
	// this process), for which slot, until when. It is what this process
	// last read or wrote (at its latest slot, or a renewal), read again
	// from the lake when that said another process held it. Zero before
	// this process's first slot of the job.
	Lease     Lease
	LeaseHere bool
	// Elsewhere counts this process's slots of the job since it started
	// that another process ran (or was still running an earlier slot).
	Elsewhere   int64
	LastSuccess time.Time
	// Last runs, newest first.
	Last []Run
}

// LastRuns is how many runs Status returns per job.
const LastRuns = 10

// Status describes every job, in the order they were added.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	out := make([]JobStatus, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, JobStatus{
			Name: e.job.Name(), Schedule: e.spec.Schedule, After: e.spec.After, Overlap: e.spec.Overlap,
			Next: e.next, Running: e.running, Queued: e.queued, Waiting: e.waiting,
			HeldUntil: e.heldUntil, HeldBy: e.heldBy,
			ClusterWide: s.leased(e), Lease: e.lease, LeaseHere: e.lease.Holder != "" && s.mine(e.lease), Elsewhere: e.elsewhere,
		})
	}
	s.mu.Unlock()
	s.refreshLeases(out)
	for i := range out {
		out[i].Last = s.opts.History.Last(out[i].Name, LastRuns)
		out[i].LastSuccess, _ = s.opts.History.lastSuccess(out[i].Name)
	}
	return out
}

// refreshLeases reads again the leases that, when this process last saw
// them, another process held: that run has likely ended since (a report
// takes seconds, a slot minutes), and "running on X" would be stale. One
// small read per such job, bounded; on failure the last view stays.
func (s *Scheduler) refreshLeases(out []JobStatus) {
	now := s.clock.Now()
	for i := range out {
		j := &out[i]
		if !j.ClusterWide || j.LeaseHere || !j.Lease.Held(now) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l, ok, err := ReadLease(ctx, s.opts.Leases, j.Name)
		cancel()
		if err == nil && ok {
			j.Lease = l
			j.LeaseHere = s.mine(l)
		}
	}
}
