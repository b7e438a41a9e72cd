package scheduler

import (
	"context"
	"errors"
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
// whoever sees the record (OnRun, the history) sees the job idle. A
// cluster-wide job first takes its lease for the slot; when another
// process has the slot, nothing is run or recorded here.
func (s *Scheduler) execute(e *entry, at time.Time) {
	defer s.wg.Done()
	name := e.job.Name()
	r := Run{Job: name, Scheduled: at, Start: s.clock.Now(), Process: s.opts.Holder}
	ctx := s.runCtx
	var err error
	switch {
	case !s.leased(e):
		r.Counts, err = s.attempts(ctx, e, &r)
	default:
		hl, l, outcome, lerr := s.acquireLease(e, at)
		switch {
		case lerr != nil:
			// Not run: without the lake's word, another process may run it.
			err = fmt.Errorf("not run: could not take the job's lease: %w", lerr)
		case outcome != leaseTaken:
			s.leftElsewhere(e, at, outcome, l)
			return
		default:
			s.seeLease(e, l)
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(s.runCtx)
			stop, kept := make(chan struct{}), make(chan struct{})
			go s.keepLease(e, hl, cancel, stop, kept)
			r.Counts, err = s.attempts(ctx, e, &r)
			close(stop)
			<-kept
			// Released before the run is recorded: whoever sees the
			// record finds the next slot free.
			s.releaseLease(e, hl)
			cancel(nil)
		}
	}
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrLeaseLost) {
		err = fmt.Errorf("%w (%v)", cause, err)
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

// attempts runs e for r's slot until it succeeds, fails permanently, runs
// out of retries, or ctx ends; r.Attempts counts them.
func (s *Scheduler) attempts(ctx context.Context, e *entry, r *Run) (counts map[string]int64, err error) {
	name := e.job.Name()
	for attempt := 0; ; attempt++ {
		r.Attempts = attempt + 1
		counts, err = s.runOnce(ctx, e.job, r.Scheduled)
		if err == nil || attempt >= e.spec.Retries || ctx.Err() != nil || IsPermanent(err) {
			return counts, err
		}
		delay := retryDelay(e.spec.RetryDelay, attempt, s.opts.Rand())
		s.log.Warn("job failed, retrying", "job", name, "attempt", r.Attempts, "retry_in", delay, "err", err)
		t := s.clock.NewTimer(s.clock.Now().Add(delay))
		why := ""
		select {
		case <-t.C():
		case <-s.stopc:
			why = "scheduler stopping"
		case <-ctx.Done():
			why = "scheduler stopping"
			if errors.Is(context.Cause(ctx), ErrLeaseLost) {
				why = "lease lost"
			}
		}
		t.Stop()
		if why != "" {
			return counts, fmt.Errorf("%w (not retried: %s)", err, why)
		}
	}
}

// leftElsewhere ends e's run for slot at that another process has (or is
// still running an earlier slot): counted and shown, not recorded here.
func (s *Scheduler) leftElsewhere(e *entry, at time.Time, outcome leaseOutcome, l Lease) {
	name := e.job.Name()
	s.metrics.elsewhere.WithLabelValues(name).Inc()
	s.log.Debug("slot runs on another process", "job", name, "scheduled", at, "holder", l.Holder, "lease_slot", l.Slot, "running", outcome == leaseBusy)
	s.mu.Lock()
	e.running = false
	e.lease = l
	e.elsewhere++
	select {
	case <-s.stopc:
	default:
		// A cluster-wide follower waiting here for this job is run by
		// the process that runs this job, after its success there;
		// waiting here would only record a "still waiting" skip at its
		// next slot on every process that did not run the upstream.
		for _, fol := range e.followers {
			if fol.waiting && s.leased(fol) {
				fol.waiting = false
			}
		}
		if e.queued {
			e.queued = false
			s.start(e, e.queuedAt)
		}
	}
	s.mu.Unlock()
	if s.opts.onLease != nil {
		s.opts.onLease(name, at, outcome, l)
	}
}

// runOnce runs one attempt; a panicking job fails its run instead of the process.
func (s *Scheduler) runOnce(ctx context.Context, job Job, at time.Time) (counts map[string]int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("job panicked", "job", job.Name(), "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("job %s panicked: %v", job.Name(), p)
		}
	}()
	return job.Run(ctx, at)
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
