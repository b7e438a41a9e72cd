package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// A cluster of silt processes in one test: a scheduler each, with its own
// store on one lake directory (as separate processes have), its own
// registry and history, and one fake clock (clocks in sync).
type cluster struct {
	t       *testing.T
	dir     string
	clock   *fakeClock
	barrier *barrier
	events  chan tickEvent
	started chan tickEvent
	procs   []*proc
}

type proc struct {
	name  string
	store *faultStore
	reg   *prometheus.Registry
	s     *Scheduler
	// release lets this process's blocking jobs end an attempt.
	release chan error
}

// tickEvent is what one process did with one slot of one job: ran it
// (a recorded run) or left it to another process.
type tickEvent struct {
	proc, job string
	slot      time.Time
	ran       bool
	status    string
	err       string
	outcome   leaseOutcome
	lease     Lease
}

func newCluster(t *testing.T, names []string, ttl time.Duration) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), clock: newFakeClock(t0), events: make(chan tickEvent, 1000), started: make(chan tickEvent, 100)}
	c.barrier = newBarrier(len(names))
	for _, name := range names {
		local, err := lake.NewLocal(c.dir)
		require.NoError(t, err)
		st := &faultStore{Store: local, barrier: c.barrier}
		hist, err := OpenHistory(context.Background(), st, 0)
		require.NoError(t, err)
		p := &proc{name: name, store: st, reg: prometheus.NewRegistry(), release: make(chan error)}
		s, err := New(Options{
			History: hist, Clock: c.clock, Registerer: p.reg,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Rand:   func() float64 { return 0.5 },
			OnRun: func(r Run) {
				c.events <- tickEvent{proc: name, job: r.Job, slot: r.Scheduled, ran: r.Status != StatusSkipped, status: r.Status, err: r.Error}
			},
			Leases: st, Holder: name, LeaseTTL: ttl,
			onLease: func(job string, slot time.Time, o leaseOutcome, l Lease) {
				c.events <- tickEvent{proc: name, job: job, slot: slot, outcome: o, lease: l}
			},
		})
		require.NoError(t, err)
		p.s = s
		c.procs = append(c.procs, p)
	}
	return c
}

// add schedules a job on every process; blocking jobs wait for their
// process's release (or their context) and tell c.started when they start.
func (c *cluster) add(name string, spec Spec, blocking bool) {
	c.t.Helper()
	for _, p := range c.procs {
		require.NoError(c.t, p.s.Add(&clusterJob{name: name, proc: p, c: c, blocking: blocking}, spec))
	}
}

func (c *cluster) start() {
	c.t.Helper()
	for _, p := range c.procs {
		require.NoError(c.t, p.s.Start(context.Background()))
		c.t.Cleanup(func() { p.crash() })
	}
}

// collect waits for n events.
func (c *cluster) collect(n int) []tickEvent {
	c.t.Helper()
	out := make([]tickEvent, 0, n)
	for range n {
		select {
		case ev := <-c.events:
			out = append(out, ev)
		case <-time.After(30 * time.Second):
			c.t.Fatalf("waited 30s for event %d of %d; got %+v", len(out)+1, n, out)
		}
	}
	return out
}

// tick arms the lease barrier (every process's first read of a lease
// waits until all processes have read: they all see the same lease and
// race to write it), then moves the clock to slot.
func (c *cluster) tick(slot time.Time) {
	c.barrier.arm()
	c.clock.advanceTo(slot)
}

func (c *cluster) proc(name string) *proc {
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	c.t.Fatalf("no process %s", name)
	return nil
}

// crash stops p as a kill -9 would leave things: its lake is gone first
// (nothing it does afterwards reaches the lake: no renewal, no done, no
// history), then its goroutines are cancelled and collected.
func (p *proc) crash() {
	p.store.dead.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.s.Stop(ctx)
}

type clusterJob struct {
	name     string
	proc     *proc
	c        *cluster
	blocking bool
}

func (j *clusterJob) Name() string { return j.name }

func (j *clusterJob) Run(ctx context.Context, at time.Time) (map[string]int64, error) {
	if !j.blocking {
		return map[string]int64{"rows": 1}, nil
	}
	j.c.started <- tickEvent{proc: j.proc.name, job: j.name, slot: at}
	select {
	case err := <-j.proc.release:
		return map[string]int64{"rows": 1}, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// faultStore is one process's view of the lake: it can die (every call
// fails), fail lease writes only (the lake unreachable for them), and
// hold first lease reads at a barrier.
type faultStore struct {
	lake.Store
	barrier         *barrier
	dead            atomic.Bool
	failLeaseWrites atomic.Bool
}

var errCrashed = errors.New("process crashed")

func (f *faultStore) check() error {
	if f.dead.Load() {
		return errCrashed
	}
	return nil
}

func (f *faultStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f *faultStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

func (f *faultStore) List(ctx context.Context, prefix string) ([]lake.Object, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.List(ctx, prefix)
}

func (f *faultStore) Create(ctx context.Context, key string, data []byte) (lake.Version, error) {
	if err := f.writeCheck(key); err != nil {
		return "", err
	}
	return f.Store.Create(ctx, key, data)
}

func (f *faultStore) Replace(ctx context.Context, key string, data []byte, prev lake.Version) (lake.Version, error) {
	if err := f.writeCheck(key); err != nil {
		return "", err
	}
	return f.Store.Replace(ctx, key, data, prev)
}

func (f *faultStore) writeCheck(key string) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.failLeaseWrites.Load() && strings.HasPrefix(key, leasePrefix) {
		return errors.New("lake unreachable")
	}
	return nil
}

func (f *faultStore) GetVersion(ctx context.Context, key string) ([]byte, lake.Version, error) {
	if err := f.check(); err != nil {
		return nil, "", err
	}
	if strings.HasPrefix(key, leasePrefix) {
		f.barrier.arrive(f)
	}
	return f.Store.GetVersion(ctx, key)
}

// barrier holds each party's first lease read of a round until every
// party has made it. Disarmed (round 0) it holds nothing.
type barrier struct {
	mu      sync.Mutex
	cond    *sync.Cond
	parties int
	round   int
	arrived int
	done    int
	passed  map[any]int
}

func newBarrier(parties int) *barrier {
	b := &barrier{parties: parties, passed: map[any]int{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *barrier) arm() {
	b.mu.Lock()
	b.round++
	b.arrived = 0
	b.mu.Unlock()
}

func (b *barrier) setParties(n int) {
	b.mu.Lock()
	b.parties = n
	b.mu.Unlock()
}

func (b *barrier) arrive(who any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.round
	if r == 0 || b.done >= r || b.passed[who] >= r {
		return
	}
	b.passed[who] = r
	b.arrived++
	if b.arrived == b.parties {
		b.done = r
		b.cond.Broadcast()
		return
	}
	for b.done < r {
		b.cond.Wait()
	}
}

func byJob(evs []tickEvent, job string) []tickEvent {
	var out []tickEvent
	for _, ev := range evs {
		if ev.job == job {
			out = append(out, ev)
		}
	}
	return out
}

func ranOn(evs []tickEvent) []string {
	var out []string
	for _, ev := range evs {
		if ev.ran {
			out = append(out, ev.proc)
		}
	}
	return out
}

// Three processes on one lake, each with the same cluster-wide report and
// the same per-process ingest on @every 1m. Every slot, all three read the
// report's lease before any writes it, then race: exactly one runs the
// report, the others count the slot as run elsewhere; ingest runs on all.
func TestClusterWideJobRunsOncePerSlotAcrossProcesses(t *testing.T) {
	c := newCluster(t, []string{"silt-0", "silt-1", "silt-2"}, 0)
	c.add("ingest", Spec{Schedule: "@every 1m"}, false)
	c.add("report", Spec{Schedule: "@every 1m", ClusterWide: true}, false)
	c.start()
	const ticks = 12
	holders := map[string]int{}
	for i := 1; i <= ticks; i++ {
		slot := t0.Add(time.Duration(i) * time.Minute)
		c.tick(slot)
		evs := c.collect(6)
		for _, ev := range evs {
			require.True(t, ev.slot.Equal(slot), "%+v", ev)
		}
		require.Len(t, ranOn(byJob(evs, "ingest")), 3, "ingest runs on every process")
		report := byJob(evs, "report")
		ran := ranOn(report)
		require.Len(t, ran, 1, "slot %s: the report ran on %v", slot, ran)
		holders[ran[0]]++
		for _, ev := range report {
			if !ev.ran {
				require.Equal(t, leaseTakenBy, ev.outcome)
				require.Equal(t, ran[0], ev.lease.Holder, "the others saw who took it")
				require.True(t, ev.lease.Slot.Equal(slot))
			} else {
				require.Equal(t, StatusOK, ev.status)
			}
		}
	}
	t.Logf("report runs per process over %d slots: %v", ticks, holders)

	// Every process's counters add up: one run per slot in all, the rest elsewhere.
	var ok, elsewhere float64
	for _, p := range c.procs {
		ok += value(t, p.s.metrics.runs.WithLabelValues("report", StatusOK))
		elsewhere += value(t, p.s.metrics.elsewhere.WithLabelValues("report"))
		require.Equal(t, 0.0, value(t, p.s.metrics.leaseLost.WithLabelValues("report")))
	}
	require.Equal(t, float64(ticks), ok)
	require.Equal(t, float64(2*ticks), elsewhere)

	// The shared run history has exactly one report run per slot.
	st, err := lake.NewLocal(c.dir)
	require.NoError(t, err)
	hist, err := OpenHistory(context.Background(), st, 0)
	require.NoError(t, err)
	perSlot := map[time.Time]int{}
	for _, r := range hist.Last("report", 1000) {
		perSlot[r.Scheduled]++
	}
	require.Len(t, perSlot, ticks)
	for slot, n := range perSlot {
		require.Equal(t, 1, n, "slot %s", slot)
	}
	require.Len(t, hist.Last("ingest", 1000), 3*ticks)

	// The lease says who ran the last slot, and that it is done.
	last := t0.Add(ticks * time.Minute)
	l, found, err := ReadLease(context.Background(), st, "report")
	require.NoError(t, err)
	require.True(t, found)
	require.True(t, l.Slot.Equal(last))
	require.True(t, l.Done)
	require.False(t, l.Held(last))
	// Status: every process shows the same holder; exactly one says it is itself.
	here := 0
	for _, p := range c.procs {
		js := p.s.Status()[1]
		require.Equal(t, "report", js.Name)
		require.True(t, js.ClusterWide)
		require.Equal(t, l.Holder, js.Lease.Holder)
		// The others last saw it held; Status reads it again: done.
		require.True(t, js.Lease.Done, "%s: %+v", p.name, js.Lease)
		if js.LeaseHere {
			here++
		}
		require.False(t, p.s.Status()[0].ClusterWide, "ingest is per process")
	}
	require.Equal(t, 1, here)
}

// A cluster-wide report chained after the per-process ingest (with its
// own schedule, as in silt.example.yaml, and without): each process's
// ingest succeeds for the same slot, so each goes for the report's lease
// for that slot, and one runs it.
func TestChainedClusterWideJobRunsOncePerFeedingSlot(t *testing.T) {
	for _, spec := range []Spec{
		{After: "ingest", ClusterWide: true},
		{After: "ingest", Schedule: "@every 1m", ClusterWide: true},
	} {
		t.Run("schedule="+spec.Schedule, func(t *testing.T) {
			c := newCluster(t, []string{"a", "b", "c"}, 0)
			c.add("ingest", Spec{Schedule: "@every 1m"}, false)
			c.add("report", spec, false)
			c.start()
			for i := 1; i <= 5; i++ {
				slot := t0.Add(time.Duration(i) * time.Minute)
				c.tick(slot)
				evs := c.collect(6)
				require.Len(t, ranOn(byJob(evs, "ingest")), 3)
				report := byJob(evs, "report")
				require.Len(t, report, 3)
				require.Len(t, ranOn(report), 1, "slot %s", slot)
				for _, ev := range report {
					require.True(t, ev.slot.Equal(slot), "the feeding run's slot")
				}
			}
			for _, p := range c.procs {
				require.False(t, p.s.Status()[1].Waiting, "no process keeps waiting")
			}
		})
	}
}

// The process running the report dies mid-run without releasing its
// lease. Until the lease expires the next slot is not run anywhere (its
// run may still be going on); the first slot after the expiry runs on
// one of the survivors.
func TestCrashedHolderLeaseExpiresAndTheNextSlotRunsElsewhere(t *testing.T) {
	const ttl = 90 * time.Second
	c := newCluster(t, []string{"silt-0", "silt-1", "silt-2"}, ttl)
	c.add("report", Spec{Schedule: "@every 1m", ClusterWide: true}, true)
	c.start()

	s1 := t0.Add(time.Minute)
	c.tick(s1)
	first := <-c.started
	require.True(t, first.slot.Equal(s1))
	for _, ev := range c.collect(2) {
		require.Equal(t, leaseTakenBy, ev.outcome)
	}
	dead := c.proc(first.proc)
	dead.crash()
	require.Equal(t, StatusFailed, c.collect(1)[0].status, "the dead process's own view; nothing of it reached the lake")
	c.barrier.setParties(2) // two processes left
	l, _, err := ReadLease(context.Background(), c.procs[0].store.Store, "report")
	require.NoError(t, err)
	require.Equal(t, first.proc, l.Holder)
	require.False(t, l.Done)
	require.True(t, l.Expires.Equal(s1.Add(ttl)))

	// 60 s later the lease (90 s) still holds: the slot runs nowhere.
	s2 := s1.Add(time.Minute)
	c.tick(s2)
	for _, ev := range c.collect(2) {
		require.NotEqual(t, first.proc, ev.proc)
		require.False(t, ev.ran)
		require.Equal(t, leaseBusy, ev.outcome, "still running elsewhere, as far as anyone can tell")
	}
	require.Empty(t, c.started)
	for _, p := range c.procs {
		if p == dead {
			continue
		}
		js := p.s.Status()[0]
		require.Equal(t, first.proc, js.Lease.Holder)
		require.True(t, js.Lease.Held(s2))
		require.True(t, js.Lease.Expires.Equal(s1.Add(ttl)))
		require.False(t, js.LeaseHere)
		require.Equal(t, int64(2), js.Elsewhere)
	}

	// After the expiry, the next slot runs once, on a survivor.
	s3 := s2.Add(time.Minute)
	c.tick(s3)
	next := <-c.started
	require.NotEqual(t, first.proc, next.proc)
	require.True(t, next.slot.Equal(s3))
	other := c.collect(1)[0]
	require.NotEqual(t, next.proc, other.proc)
	require.Equal(t, leaseTakenBy, other.outcome)
	require.Equal(t, next.proc, other.lease.Holder)
	c.proc(next.proc).release <- nil
	ev := c.collect(1)[0]
	require.Equal(t, next.proc, ev.proc)
	require.Equal(t, StatusOK, ev.status)
	require.Empty(t, c.started)
	l, _, err = ReadLease(context.Background(), c.procs[0].store.Store, "report")
	require.NoError(t, err)
	require.Equal(t, next.proc, l.Holder)
	require.True(t, l.Done)
}

// While a run goes on its lease is renewed every TTL/3; a renewal that
// finds another holder (it took over after an expiry) cancels the run's
// context, and the run fails saying so. The usurper's lease is left alone.
func TestLostRenewalCancelsTheRun(t *testing.T) {
	c := newCluster(t, []string{"silt-0"}, time.Minute)
	c.add("report", Spec{Schedule: "@every 1h", ClusterWide: true, Retries: 3}, true)
	c.start()
	p := c.procs[0]
	s1 := t0.Add(time.Hour)
	c.tick(s1)
	<-c.started

	// Renewals keep it: after two, the lease expires a minute after the second.
	for i := 1; i <= 2; i++ {
		at := s1.Add(time.Duration(i) * 20 * time.Second)
		c.clock.advanceTo(at)
		require.Eventually(t, func() bool {
			l, _, err := ReadLease(context.Background(), p.store.Store, "report")
			return err == nil && l.Expires.Equal(at.Add(time.Minute))
		}, 10*time.Second, time.Millisecond, "renewal %d", i)
	}

	// Another process takes the lease over (as after an expiry it saw).
	raw, v, err := p.store.Store.GetVersion(context.Background(), LeaseKey("report"))
	require.NoError(t, err)
	var l Lease
	require.NoError(t, json.Unmarshal(raw, &l))
	intruder := Lease{Holder: "silt-9", Slot: s1.Add(40 * time.Second), Acquired: s1.Add(40 * time.Second), Expires: s1.Add(100 * time.Second)}
	data, err := json.Marshal(intruder)
	require.NoError(t, err)
	_, err = p.store.Store.Replace(context.Background(), LeaseKey("report"), data, v)
	require.NoError(t, err)

	// At the next renewal this process finds out and cancels its run;
	// the job sees its context end; the run is not retried.
	c.clock.advanceTo(s1.Add(60 * time.Second))
	ev := c.collect(1)[0]
	require.Equal(t, StatusFailed, ev.status)
	require.Contains(t, ev.err, "lease lost")
	require.Contains(t, ev.err, "silt-9 took over the lease of report")
	require.Contains(t, ev.err, "context canceled")
	require.Equal(t, 1.0, value(t, p.s.metrics.leaseLost.WithLabelValues("report")))
	require.Equal(t, 0.0, value(t, p.s.metrics.retries.WithLabelValues("report")))
	got, _, err := ReadLease(context.Background(), p.store.Store, "report")
	require.NoError(t, err)
	require.Equal(t, "silt-9", got.Holder, "not marked done over the new holder")
	require.False(t, got.Done)
	require.Equal(t, "silt-9", p.s.Status()[0].Lease.Holder)
}

// A run whose lease cannot be renewed (the lake unreachable for lease
// writes) keeps running until the lease's own expiry, then is cancelled:
// from then on another process may take the slot.
func TestUnrenewableLeaseCancelsTheRunAtItsExpiry(t *testing.T) {
	c := newCluster(t, []string{"silt-0"}, time.Minute)
	c.add("report", Spec{Schedule: "@every 1h", ClusterWide: true}, true)
	c.start()
	p := c.procs[0]
	s1 := t0.Add(time.Hour)
	c.tick(s1)
	<-c.started
	p.store.failLeaseWrites.Store(true)
	c.clock.advanceTo(s1.Add(20 * time.Second))
	c.clock.advanceTo(s1.Add(40 * time.Second))
	require.Empty(t, c.events, "a failed renewal is retried while the lease lasts")
	c.clock.advanceTo(s1.Add(60 * time.Second))
	ev := c.collect(1)[0]
	require.Equal(t, StatusFailed, ev.status)
	require.Contains(t, ev.err, "expired at")
	require.Contains(t, ev.err, "lake unreachable")
	require.Equal(t, 1.0, value(t, p.s.metrics.leaseLost.WithLabelValues("report")))
}

// Without Options.Leases, ClusterWide changes nothing: one process runs
// everything (and an unreadable or missing lease store is never asked).
func TestNoLeaseStoreRunsClusterWideJobsHere(t *testing.T) {
	h := newHarness(t, "")
	j := newStepJob("report")
	h.add(j, Spec{Schedule: "@every 10s", ClusterWide: true})
	h.start()
	h.clock.advanceTo(t0.Add(10 * time.Second))
	expectStart(t, j, t0.Add(10*time.Second))
	j.release <- nil
	require.Equal(t, StatusOK, h.nextRun().Status)
	require.False(t, h.s.Status()[0].ClusterWide)
	_, found, err := ReadLease(context.Background(), h.store, "report")
	require.NoError(t, err)
	require.False(t, found)
}

// @every slots are whole multiples of the interval, whenever a process
// started, so processes share them; cron slots are unchanged.
func TestSlotsAlignEveryAcrossStartTimes(t *testing.T) {
	for _, tc := range []struct {
		expr string
		from time.Time
		want time.Time
	}{
		{"@every 1m", t0.Add(37 * time.Second), t0.Add(time.Minute)},
		{"@every 1m", t0.Add(59*time.Second + 900*time.Millisecond), t0.Add(time.Minute)},
		{"@every 1m", t0, t0.Add(time.Minute)},
		{"@every 5s", t0.Add(2*time.Second + 1), t0.Add(5 * time.Second)},
		{"@every 1h", t0.Add(20 * time.Minute), t0.Add(time.Hour)},
		{"*/10 * * * * *", t0.Add(3 * time.Second), t0.Add(10 * time.Second)},
		{"0 * * * *", t0.Add(20 * time.Minute), t0.Add(time.Hour)},
	} {
		s, err := Slots(tc.expr, nil)
		require.NoError(t, err)
		require.True(t, s.Next(tc.from).Equal(tc.want), "%s from %s: %s, want %s", tc.expr, tc.from, s.Next(tc.from), tc.want)
	}
	_, err := Slots("@every nope", nil)
	require.Error(t, err)
}
