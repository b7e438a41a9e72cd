package scheduler

import (
	"sync"
	"time"
)

// fakeClock moves only when a test advances it. Tests wait for the
// scheduler to arm a timer at a known instant (waitTimer) before advancing,
// so every step is deterministic and nothing sleeps.
type fakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	pending []*fakeTimer
}

type fakeTimer struct {
	clk *fakeClock
	at  time.Time
	c   chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	c := &fakeClock{now: now}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(at time.Time) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: at, c: make(chan time.Time, 1)}
	if !at.After(c.now) {
		t.c <- c.now
		return t
	}
	c.pending = append(c.pending, t)
	c.cond.Broadcast()
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	c := t.clk
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p == t {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			c.cond.Broadcast()
			return true
		}
	}
	return false
}

// advance moves the clock by d and fires every timer that is due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.pending[:0]
	for _, t := range c.pending {
		if t.at.After(c.now) {
			keep = append(keep, t)
			continue
		}
		t.c <- c.now
	}
	c.pending = keep
	c.cond.Broadcast()
}

// waitTimer blocks until some timer is armed for instant at.
func (c *fakeClock) waitTimer(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, t := range c.pending {
			if t.at.Equal(at) {
				return
			}
		}
		c.cond.Wait()
	}
}

// advanceTo waits for a timer at instant at, then moves the clock there.
func (c *fakeClock) advanceTo(at time.Time) {
	c.waitTimer(at)
	c.advance(at.Sub(c.Now()))
}
