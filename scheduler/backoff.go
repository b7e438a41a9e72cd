package scheduler

import (
	"time"

	"github.com/silt-etl/silt/internal/backoff"
)

// maxBackoff caps one retry delay: a job retried for hours would only hide
// the failure from the next scheduled run.
const maxBackoff = 5 * time.Minute

// retryDelay is the wait before retry n of a job (0 for the first):
// backoff.Delay from the job's retry_delay (1 s when unset), capped at
// maxBackoff. Permanent failures hold a job off the same way.
func retryDelay(base time.Duration, n int, r float64) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	return backoff.Delay(base, maxBackoff, n, r)
}
