package scheduler

import "time"

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
	HeldUntil   time.Time
	HeldBy      string
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
		})
	}
	s.mu.Unlock()
	for i := range out {
		out[i].Last = s.opts.History.Last(out[i].Name, LastRuns)
		out[i].LastSuccess, _ = s.opts.History.lastSuccess(out[i].Name)
	}
	return out
}
