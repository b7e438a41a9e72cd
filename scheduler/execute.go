package scheduler

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// historyWriteTimeout bounds recording one run, which happens also after
// the runs' context was cancelled at a stop deadline.
const historyWriteTimeout = 30 * time.Second

// start launches a run of e for slot at. Called with mu held.
func (s *Scheduler) start(e *entry, at time.Time) {
	e.running = true
	s.wg.Add(1)
	go s.execute(e, at)
}

// execute runs one scheduled run of e with its retries, then records it.
// The scheduler's state learns of the end before the run is recorded, so
// whoever sees the record (OnRun, the history) sees the job idle.
func (s *Scheduler) execute(e *entry, at time.Time) {
	defer s.wg.Done()
	name := e.job.Name()
	r := Run{Job: name, Scheduled: at, Start: s.clock.Now()}
	var err error
	for attempt := 0; ; attempt++ {
		r.Attempts = attempt + 1
		r.Counts, err = s.runOnce(e.job, at)
		if err == nil || attempt >= e.spec.Retries || s.runCtx.Err() != nil || IsPermanent(err) {
			break
		}
		delay := Backoff(e.spec.RetryDelay, attempt, s.opts.Rand())
		s.log.Warn("job failed, retrying", "job", name, "attempt", r.Attempts, "retry_in", delay, "err", err)
		t := s.clock.NewTimer(s.clock.Now().Add(delay))
		stopped := false
		select {
		case <-t.C():
		case <-s.stopc:
			stopped = true
		case <-s.runCtx.Done():
			stopped = true
		}
		t.Stop()
		if stopped {
			err = fmt.Errorf("%w (not retried: scheduler stopping)", err)
			break
		}
	}
	r.End = s.clock.Now()
	r.Status = StatusOK
	if err != nil {
		r.Status = StatusFailed
		r.Error = err.Error()
	}
	s.mu.Lock()
	s.finish(e, r, IsPermanent(err))
	s.mu.Unlock()
	s.record(r)
	s.flushSkips()
}

// runOnce runs one attempt; a panicking job fails its run instead of the process.
func (s *Scheduler) runOnce(job Job, at time.Time) (counts map[string]int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("job panicked", "job", job.Name(), "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("job %s panicked: %v", job.Name(), p)
		}
	}()
	return job.Run(s.runCtx, at)
}

func (s *Scheduler) record(r Run) {
	ctx, cancel := context.WithTimeout(s.baseCtx, historyWriteTimeout)
	defer cancel()
	if err := s.opts.History.Record(ctx, r); err != nil {
		s.log.Error("recording run", "job", r.Job, "err", err)
	}
	s.metrics.observe(r)
	level := s.log.Info
	switch {
	case s.opts.OnRun != nil:
		// OnRun shows the run to a person already (silt run's console
		// line): the log keeps it at debug, so each run shows once.
		level = s.log.Debug
	case r.Status == StatusFailed:
		level = s.log.Warn
	}
	level("job run", "job", r.Job, "status", r.Status, "scheduled", r.Scheduled, "duration", r.Duration(), "attempts", r.Attempts, "counts", r.Counts, "err", r.Error)
	if s.opts.OnRun != nil {
		s.opts.OnRun(r)
	}
}
