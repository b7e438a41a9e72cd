// Package backoff is silt's one retry delay: exponential, capped, with
// "equal jitter". Object store calls, lost conditional-write races and
// scheduled job retries all wait this way.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry n (0 for the first): base·2ⁿ capped at
// limit, with equal jitter: r in [0,1) picks a point in the upper half, so
// that processes failing together do not retry in lockstep, yet none
// retries sooner than half the nominal delay.
func Delay(base, limit time.Duration, n int, r float64) time.Duration {
	if base <= 0 {
		base = time.Millisecond
	}
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}

// Sleep waits Delay(base, limit, n, random) or until ctx ends, whose error
// it then returns.
func Sleep(ctx context.Context, base, limit time.Duration, n int) error {
	t := time.NewTimer(Delay(base, limit, n, rand.Float64()))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
