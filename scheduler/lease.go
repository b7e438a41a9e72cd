package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/silt-etl/silt/lake"
)

// One runner per cluster-wide job.
//
// Several `silt run` processes may share one lake (one Kafka consumer
// group). Ingest runs on each of them; a cluster-wide job (a Spec with
// ClusterWide: reports and their alerts, compaction, retention, catalog
// repair) runs on one process per slot. Each such job has a lease object,
// _silt/leases/<job>.json, written only with the lake's conditional writes:
//
//   - At a slot, each process reads the lease with its version. If its slot
//     is this slot or a later one, another process took this tick: this
//     process does not run it (counted in silt_job_runs_elsewhere_total and
//     shown on the status page, not recorded in the run history). If another
//     process holds it for an earlier slot, not done and not expired, that
//     run is still going: the tick is not run here either (the holder's own
//     scheduler records its overlap skip, as with one process). Otherwise
//     (done, expired, or never taken) the process writes {itself, slot,
//     expires: now+TTL} with Replace (Create the first time). Of processes
//     racing for a slot exactly one write succeeds; a loser re-reads and
//     finds the slot taken.
//   - While the run goes on (retries and their back-off included) the
//     holder renews the lease every TTL/3. A renewal that finds the lease
//     changed (another process took it after it expired, say after this
//     one stalled or lost the lake) cancels the run: loudly, counted in
//     silt_job_lease_lost_total, the run failing with ErrLeaseLost. A
//     renewal that cannot reach the lake is retried, until the lease's own
//     expiry passes: then the run is cancelled too, since another process
//     may take over from then on.
//   - At the end the holder marks the lease done (conditionally), and the
//     next slot may go to any process. A holder that crashes leaves its
//     lease to expire: the first slot after the expiry runs elsewhere.
//
// Slots must be the same instants on every process: cron expressions are
// wall-clock aligned, and the Scheduler aligns @every intervals too (see
// Slots). Expiry is compared on each process's clock, so clocks must agree
// to well within the TTL (NTP does).

// LeaseStore is what leases need of the lake; lake.Store satisfies it.
type LeaseStore interface {
	Create(ctx context.Context, key string, data []byte) (lake.Version, error)
	Replace(ctx context.Context, key string, data []byte, prev lake.Version) (lake.Version, error)
	GetVersion(ctx context.Context, key string) ([]byte, lake.Version, error)
}

var _ LeaseStore = lake.Store(nil)

// DefaultLeaseTTL is how long a lease lasts without renewal: how long the
// next slot waits after its holder crashed, and a bound on clock skew
// between processes.
const DefaultLeaseTTL = 60 * time.Second

// ErrLeaseLost is the cause of a run cancelled because its lease could not
// be kept: another process took it over, or it expired unrenewed.
var ErrLeaseLost = errors.New("lease lost")

// leasePrefix holds one lease object per cluster-wide job.
const leasePrefix = lake.MetaPrefix + "leases/"

// leaseRounds bounds one acquisition's rounds lost to other writers of the
// lease (a round is lost only when another process wrote in between).
const leaseRounds = 20

// Lease is the lease object of a cluster-wide job.
type Lease struct {
	// Holder is the process that took the lease: kafka.instance_id, or
	// host-pid (Options.Holder).
	Holder string `json:"holder"`
	// Token tells this run of Holder from an earlier one that crashed (a
	// process restarted with the same kafka.instance_id).
	Token string `json:"token,omitempty"`
	// Slot is the scheduled time the lease was taken for: the tick.
	Slot     time.Time `json:"slot"`
	Acquired time.Time `json:"acquired"`
	// Expires is when another process may take over, unless renewed.
	Expires time.Time `json:"expires"`
	// Done: the run for Slot ended (Ended); the next slot is free.
	Done  bool      `json:"done"`
	Ended time.Time `json:"ended,omitzero"`
}

// Held reports whether a run holds the lease at now: taken, not done, not expired.
func (l Lease) Held(now time.Time) bool {
	return l.Holder != "" && !l.Done && now.Before(l.Expires)
}

// LeaseKey is where job's lease lives in the lake.
func LeaseKey(job string) string { return leasePrefix + url.PathEscape(job) + ".json" }

// ReadLease reads job's lease; ok is false when no process has taken it yet.
func ReadLease(ctx context.Context, store LeaseStore, job string) (l Lease, ok bool, err error) {
	raw, _, err := store.GetVersion(ctx, LeaseKey(job))
	if errors.Is(err, lake.ErrNotExist) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("read lease of %s: %w", job, err)
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return Lease{}, false, fmt.Errorf("lease of %s: %w", job, err)
	}
	return l, true, nil
}

// DefaultHolder names this process for leases when nothing better is
// configured: host-pid.
func DefaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "silt"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// leaseOutcome is what a process found when it went for a slot's lease.
type leaseOutcome int

const (
	leaseTaken   leaseOutcome = iota // this process holds it: run
	leaseTakenBy                     // another process took this slot (or a later one)
	leaseBusy                        // another process still runs an earlier slot
)

// heldLease is a lease this process holds for one run.
type heldLease struct {
	key     string
	mu      sync.Mutex
	lease   Lease
	version lake.Version
	lost    bool // another process wrote it: never write it again
}

// leased reports whether e runs on one process per slot.
func (s *Scheduler) leased(e *entry) bool {
	return e.spec.ClusterWide && s.opts.Leases != nil
}

// ioCtx bounds one lease read or write, whatever the runs' context: a
// lease must still be released while the scheduler stops.
func (s *Scheduler) ioCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.baseCtx, min(10*time.Second, max(s.opts.LeaseTTL/2, time.Second)))
}

func (s *Scheduler) mine(l Lease) bool {
	return l.Holder == s.opts.Holder && l.Token == s.token
}

// acquireLease goes for e's lease for slot at. It returns the lease as it
// found or wrote it, and an error only when the lake could not be asked.
func (s *Scheduler) acquireLease(e *entry, at time.Time) (*heldLease, Lease, leaseOutcome, error) {
	key := LeaseKey(e.job.Name())
	ctx, cancel := s.ioCtx()
	defer cancel()
	for round := 1; ; round++ {
		raw, v, err := s.opts.Leases.GetVersion(ctx, key)
		exists := err == nil
		var cur Lease
		switch {
		case errors.Is(err, lake.ErrNotExist):
		case err != nil:
			return nil, Lease{}, 0, fmt.Errorf("read lease %s: %w", key, err)
		default:
			// An unreadable lease is free, and replaced conditionally.
			if json.Unmarshal(raw, &cur) != nil {
				cur = Lease{}
			}
		}
		now := s.clock.Now()
		if exists && cur.Holder != "" {
			switch {
			case !cur.Slot.Before(at):
				return nil, cur, leaseTakenBy, nil
			case cur.Held(now) && !s.mine(cur):
				// An earlier slot's run still holds it. (This process's
				// own lease is stale here: e is not running, so only a
				// failed done-write left it; it is taken over at once.)
				return nil, cur, leaseBusy, nil
			}
		}
		next := Lease{Holder: s.opts.Holder, Token: s.token, Slot: at, Acquired: now, Expires: now.Add(s.opts.LeaseTTL)}
		data, err := json.Marshal(next)
		if err != nil {
			return nil, Lease{}, 0, err
		}
		var nv lake.Version
		if exists {
			nv, err = s.opts.Leases.Replace(ctx, key, data, v)
		} else {
			nv, err = s.opts.Leases.Create(ctx, key, data)
		}
		if err == nil {
			return &heldLease{key: key, lease: next, version: nv}, next, leaseTaken, nil
		}
		if !errors.Is(err, lake.ErrPreconditionFailed) {
			return nil, Lease{}, 0, fmt.Errorf("write lease %s: %w", key, err)
		}
		// Lost a race: someone wrote it since it was read. Read again and
		// decide again; never overwrite.
		if round == leaseRounds {
			return nil, Lease{}, 0, fmt.Errorf("write lease %s: other processes kept writing it (%d rounds lost): %w", key, round, err)
		}
	}
}

// keepLease renews hl every TTL/3 until stop closes, and cancels the run
// (cancel) when the lease is lost. It closes done when it returns.
func (s *Scheduler) keepLease(e *entry, hl *heldLease, cancel context.CancelCauseFunc, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	name := e.job.Name()
	every := max(s.opts.LeaseTTL/3, time.Millisecond)
	for {
		t := s.clock.NewTimer(s.clock.Now().Add(every))
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C():
		}
		now := s.clock.Now()
		hl.mu.Lock()
		next := hl.lease
		next.Expires = now.Add(s.opts.LeaseTTL)
		v, err := s.writeLease(hl.key, next, hl.version)
		switch {
		case err == nil:
			hl.lease, hl.version = next, v
			hl.mu.Unlock()
			s.seeLease(e, next)
			continue
		case errors.Is(err, lake.ErrPreconditionFailed):
			hl.lost = true
			hl.mu.Unlock()
			ctx, c := s.ioCtx()
			cur, _, _ := ReadLease(ctx, s.opts.Leases, name)
			c()
			s.seeLease(e, cur)
			s.metrics.leaseLost.WithLabelValues(name).Inc()
			cause := fmt.Errorf("%w: %s took over the lease of %s (slot %s) after it expired, while this process (%s) still ran it: run cancelled",
				ErrLeaseLost, orUnknown(cur.Holder), name, hl.lease.Slot.UTC().Format(time.RFC3339), s.opts.Holder)
			s.log.Error("LEASE LOST: another process runs this job now; cancelling the run here", "job", name,
				"slot", hl.lease.Slot, "holder", cur.Holder, "expired", hl.lease.Expires)
			cancel(cause)
			return
		case !now.Before(hl.lease.Expires):
			hl.lost = true
			expired := hl.lease.Expires
			hl.mu.Unlock()
			s.metrics.leaseLost.WithLabelValues(name).Inc()
			cause := fmt.Errorf("%w: the lease of %s (slot %s) expired at %s without renewal (%v); another process may run it now: run cancelled",
				ErrLeaseLost, name, hl.lease.Slot.UTC().Format(time.RFC3339), expired.UTC().Format(time.RFC3339), err)
			s.log.Error("LEASE EXPIRED: could not renew it; cancelling the run here", "job", name, "expired", expired, "err", err)
			cancel(cause)
			return
		default:
			expires := hl.lease.Expires
			hl.mu.Unlock()
			s.log.Warn("could not renew the job's lease; retrying", "job", name, "expires", expires, "err", err)
		}
	}
}

// releaseLease marks hl done, unless it was lost.
func (s *Scheduler) releaseLease(e *entry, hl *heldLease) {
	hl.mu.Lock()
	defer hl.mu.Unlock()
	if hl.lost {
		return
	}
	next := hl.lease
	next.Done, next.Ended = true, s.clock.Now()
	v, err := s.writeLease(hl.key, next, hl.version)
	switch {
	case err == nil:
		hl.lease, hl.version = next, v
		s.seeLease(e, next)
	case errors.Is(err, lake.ErrPreconditionFailed):
		hl.lost = true
		s.metrics.leaseLost.WithLabelValues(e.job.Name()).Inc()
		s.log.Error("LEASE LOST: another process took the job's lease before this run ended", "job", e.job.Name(), "slot", hl.lease.Slot)
	default:
		// Harmless: the lease expires by itself, and the next slot
		// waits at most until then.
		s.log.Warn("could not mark the job's lease done; it expires by itself", "job", e.job.Name(), "expires", hl.lease.Expires, "err", err)
	}
}

func (s *Scheduler) writeLease(key string, l Lease, prev lake.Version) (lake.Version, error) {
	data, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	ctx, cancel := s.ioCtx()
	defer cancel()
	return s.opts.Leases.Replace(ctx, key, data, prev)
}

// seeLease remembers the lease as last read or written, for Status.
func (s *Scheduler) seeLease(e *entry, l Lease) {
	s.mu.Lock()
	e.lease = l
	s.mu.Unlock()
}

func orUnknown(s string) string {
	if s == "" {
		return "another process"
	}
	return s
}

// Slots is the schedule the Scheduler runs expr on: ParseSchedule's, with
// @every intervals counted from the zero time (slots at whole multiples
// of the interval) rather than from the moment the process started. So
// processes sharing a lake, started at different moments, have the same
// slots, and a slot names the same tick everywhere: what a cluster-wide
// job's lease is taken for, and what a chained job inherits from the run
// that fed it. Cron expressions are wall-clock aligned already.
func Slots(expr string, loc *time.Location) (cron.Schedule, error) {
	sched, err := ParseSchedule(expr, loc)
	if err != nil {
		return nil, err
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		return alignedEvery(every.Delay), nil
	}
	return sched, nil
}

type alignedEvery time.Duration

func (d alignedEvery) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(d)).Add(time.Duration(d))
}
