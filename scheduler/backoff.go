package scheduler

import "time"

// maxBackoff caps one retry delay: a job retried for hours would only hide
// the failure from the next scheduled run.
const maxBackoff = 5 * time.Minute

// Backoff is the delay before retry attempt n (0 for the first retry):
// base·2ⁿ capped at maxBackoff, with "equal jitter" (r in [0,1) picks a
// point in the upper half) so that jobs failing together do not retry in
// lockstep, yet never retry sooner than half the nominal delay.
func Backoff(base time.Duration, n int, r float64) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	d := base
	for i := 0; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}
