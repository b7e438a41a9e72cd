package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
)

// Options configure a Scheduler; zero values pick the defaults.
type Options struct {
	// History persists runs; required.
	History *History
	// Clock defaults to the wall clock.
	Clock Clock
	// Location evaluates schedules without a CRON_TZ= prefix; default UTC.
	Location *time.Location
	// Registerer receives the job metrics; default prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Rand draws retry jitter in [0,1); default math/rand/v2.
	Rand func() float64
	// OnRun is called after every run (skipped ones too) is recorded.
	// When set, it is what shows runs to people, and the scheduler logs
	// each run at debug level only.
	OnRun func(Run)

	// Leases, when set, makes jobs whose Spec is ClusterWide run on one
	// process per slot among the processes sharing the lake (see
	// lease.go); lake.Store satisfies it. Nil: every job runs here, as
	// one process alone does.
	Leases LeaseStore
	// Holder names this process in leases (kafka.instance_id, say);
	// default DefaultHolder(), host-pid.
	Holder string
	// LeaseTTL is how long a lease lasts unrenewed (renewed every
	// LeaseTTL/3 while its run goes on); default DefaultLeaseTTL.
	LeaseTTL time.Duration

	// onLease, for tests, hears every slot of a cluster-wide job that
	// this process left to another (once the job shows idle here).
	onLease func(job string, slot time.Time, outcome leaseOutcome, l Lease)
}

// Scheduler runs jobs on their schedules. Add jobs, Start, then Stop.
type Scheduler struct {
	opts    Options
	clock   Clock
	metrics *metrics
	log     *slog.Logger
	// token tells this process's leases from an earlier run's of the same Holder.
	token string

	// mu guards the entries' state: the loop and the run goroutines change
	// it, Status reads it.
	mu      sync.Mutex
	entries []*entry
	byName  map[string]*entry
	skips   []Run // skipped runs to record once mu is released
	started bool

	stopc      chan struct{}
	stopOnce   sync.Once
	loopDone   chan struct{}
	baseCtx    context.Context
	runCtx     context.Context
	cancelRuns context.CancelFunc
	wg         sync.WaitGroup
}

type entry struct {
	job       Job
	spec      Spec
	sched     cron.Schedule // nil: runs only after another job
	followers []*entry

	next      time.Time // next slot of sched
	running   bool
	queued    bool
	queuedAt  time.Time
	waiting   bool // due on its schedule, waiting for its After job to succeed
	waitingAt time.Time
	// heldUntil holds scheduled runs off after permanent failures in a
	// row (permanentFails of them; see IsPermanent); heldBy is the cause.
	heldUntil      time.Time
	heldBy         string
	permanentFails int

	// Cluster-wide jobs: the lease as this process last read or wrote
	// it, and how many of this process's slots ran elsewhere.
	lease     Lease
	elsewhere int64
}

// New makes a scheduler with no jobs.
func New(opts Options) (*Scheduler, error) {
	if opts.History == nil {
		return nil, errors.New("scheduler: no run history")
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.DefaultRegisterer
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Holder == "" {
		opts.Holder = DefaultHolder()
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	return &Scheduler{
		opts:     opts,
		clock:    opts.Clock,
		metrics:  newMetrics(opts.Registerer),
		log:      opts.Logger,
		token:    newToken(),
		byName:   map[string]*entry{},
		stopc:    make(chan struct{}),
		loopDone: make(chan struct{}),
	}, nil
}

// Add schedules job. It must be called before Start.
func (s *Scheduler) Add(job Job, spec Spec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := job.Name()
	if s.started {
		return fmt.Errorf("add job %s: scheduler already started", name)
	}
	if _, dup := s.byName[name]; dup {
		return fmt.Errorf("add job %s: a job of that name exists", name)
	}
	switch spec.Overlap {
	case "":
		spec.Overlap = OverlapSkip
	case OverlapSkip, OverlapQueue:
	default:
		return fmt.Errorf("add job %s: overlap %q: use skip or queue", name, spec.Overlap)
	}
	if spec.Retries < 0 {
		return fmt.Errorf("add job %s: negative retries", name)
	}
	e := &entry{job: job, spec: spec}
	switch {
	case spec.Schedule != "":
		sched, err := Slots(spec.Schedule, s.opts.Location)
		if err != nil {
			return fmt.Errorf("add job %s: %w", name, err)
		}
		e.sched = sched
	case spec.After == "":
		return fmt.Errorf("add job %s: neither a schedule nor a job to follow", name)
	}
	s.entries = append(s.entries, e)
	s.byName[name] = e
	s.metrics.init(name, s.leased(e))
	if end, ok := s.opts.History.lastSuccess(name); ok {
		s.metrics.restore(name, end)
	}
	return nil
}

// Start resolves chains, runs catch-up slots and starts the schedule loop.
// ctx carries values to the runs; cancelling it does not stop the
// scheduler, Stop does.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("scheduler already started")
	}
	for _, e := range s.entries {
		if e.spec.After == "" {
			continue
		}
		up, ok := s.byName[e.spec.After]
		if !ok {
			s.mu.Unlock()
			return fmt.Errorf("job %s follows %q, which is not scheduled", e.job.Name(), e.spec.After)
		}
		up.followers = append(up.followers, e)
	}
	s.started = true
	s.baseCtx = context.WithoutCancel(ctx)
	s.runCtx, s.cancelRuns = context.WithCancel(s.baseCtx)
	now := s.clock.Now()
	for _, e := range s.entries {
		if e.sched == nil {
			continue
		}
		e.next = e.sched.Next(now)
		if !e.spec.Catchup {
			continue
		}
		last, ok := s.opts.History.lastScheduled(e.job.Name())
		if !ok {
			continue // never ran here: nothing was missed
		}
		if slot, missed := lastMissed(e.sched, last, now); missed {
			s.log.Info("catching up a missed run", "job", e.job.Name(), "scheduled", slot)
			s.due(e, slot)
		}
	}
	s.mu.Unlock()
	s.flushSkips()
	go s.loop()
	return nil
}

// lastMissed is the latest slot after last that is not after now.
func lastMissed(sched cron.Schedule, last, now time.Time) (time.Time, bool) {
	t := sched.Next(last)
	if t.IsZero() || t.After(now) {
		return time.Time{}, false
	}
	for range 10_000_000 { // a bound, should the schedule not advance
		n := sched.Next(t)
		if n.IsZero() || n.After(now) || !n.After(t) {
			break
		}
		t = n
	}
	return t, true
}

func (s *Scheduler) loop() {
	defer close(s.loopDone)
	for {
		s.mu.Lock()
		now := s.clock.Now()
		var wake time.Time
		for _, e := range s.entries {
			if e.sched == nil {
				continue
			}
			if !e.next.After(now) {
				s.due(e, e.next)
				e.next = e.sched.Next(now)
			}
			if wake.IsZero() || e.next.Before(wake) {
				wake = e.next
			}
		}
		s.mu.Unlock()
		s.flushSkips()

		var timer Timer
		var fire <-chan time.Time
		if !wake.IsZero() {
			timer = s.clock.NewTimer(wake)
			fire = timer.C()
		}
		select {
		case <-fire:
		case <-s.stopc:
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// due handles a job's schedule slot. Called with mu held.
func (s *Scheduler) due(e *entry, at time.Time) {
	if e.spec.After != "" {
		if e.waiting {
			s.skip(e, at, "still waiting for "+e.spec.After+" to succeed")
			return
		}
		e.waiting, e.waitingAt = true, at
		return
	}
	s.trigger(e, at)
}

// trigger runs e now unless it is running. Called with mu held.
func (s *Scheduler) trigger(e *entry, at time.Time) {
	if s.clock.Now().Before(e.heldUntil) {
		// Not recorded as a skip: one record per tick for minutes would
		// bury the failure itself; Status shows the hold and its cause.
		return
	}
	if !e.running {
		s.start(e, at)
		return
	}
	if e.spec.Overlap == OverlapQueue && !e.queued {
		e.queued, e.queuedAt = true, at
		return
	}
	s.skip(e, at, "previous run still running")
}

func (s *Scheduler) skip(e *entry, at time.Time, why string) {
	now := s.clock.Now()
	s.skips = append(s.skips, Run{Job: e.job.Name(), Scheduled: at, Start: now, End: now, Status: StatusSkipped, Error: why, Process: s.opts.Holder})
}

// flushSkips records skipped runs outside mu: recording writes to the lake.
func (s *Scheduler) flushSkips() {
	s.mu.Lock()
	skips := s.skips
	s.skips = nil
	s.mu.Unlock()
	for _, r := range skips {
		s.record(r)
	}
}

// finish takes a run's end: the queued run starts, followers are released,
// unless the scheduler is stopping. Called with mu held.
func (s *Scheduler) finish(e *entry, r Run, permanent bool) {
	e.running = false
	switch {
	case permanent:
		e.permanentFails++
		e.heldUntil = r.End.Add(retryDelay(permanentHoldBase, e.permanentFails-1, s.opts.Rand()))
		e.heldBy = r.Error
	case r.Status == StatusOK:
		e.permanentFails, e.heldUntil, e.heldBy = 0, time.Time{}, ""
	}
	select {
	case <-s.stopc:
		return
	default:
	}
	if e.queued {
		e.queued = false
		s.start(e, e.queuedAt)
	}
	if r.Status != StatusOK {
		return
	}
	for _, fol := range e.followers {
		switch {
		case fol.sched == nil:
			// A pure chain works on the slot of the run that fed it.
			s.trigger(fol, r.Scheduled)
		case fol.waiting:
			fol.waiting = false
			s.trigger(fol, fol.waitingAt)
		}
	}
}

// Stop stops scheduling (no new, queued, chained or retried runs) and waits
// for running jobs. When ctx ends first, their contexts are cancelled and
// Stop still waits for them to return, then reports the deadline.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stopc) })
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	<-s.loopDone
	idle := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		s.log.Warn("stop deadline reached: cancelling running jobs")
		s.cancelRuns()
		<-idle
		return fmt.Errorf("stop: running jobs cancelled at the deadline: %w", ctx.Err())
	}
}

// Ready reports whether the scheduler is started and not stopping.
func (s *Scheduler) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopc:
		return errors.New("scheduler stopping")
	default:
	}
	if !s.started {
		return errors.New("scheduler not started")
	}
	return nil
}
