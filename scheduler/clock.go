package scheduler

import "time"

// Clock is the scheduler's source of time; tests inject a fake one so cron
// semantics are checked without sleeping. Timers take an absolute instant,
// so a clock that moves between reading Now and arming a timer cannot make
// the scheduler miss a slot.
type Clock interface {
	Now() time.Time
	// NewTimer fires once the clock reaches at, at once if it already has.
	NewTimer(at time.Time) Timer
}

// Timer is the part of time.Timer the scheduler uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(at time.Time) Timer { return realTimer{time.NewTimer(time.Until(at))} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
