package lake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/silt-etl/silt/internal/backoff"
)

// Retry bounds for object store calls: a brief outage (a MinIO restart) is
// ridden out; a long one surfaces as an error to the job, which retries on
// its own schedule.
var (
	retryAttempts = 8
	retryBase     = 100 * time.Millisecond
	retryMax      = 5 * time.Second
)

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// permanent marks an error that a retry cannot fix.
func permanent(err error) error { return permanentError{err} }

// withRetry runs op until it succeeds, fails permanently, runs out of
// attempts or ctx ends, waiting backoff.Delay between attempts; log gets
// a line per failed attempt.
func withRetry(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = op()
		var perm permanentError
		if err == nil {
			return nil
		}
		if errors.As(err, &perm) {
			return perm.err
		}
		if ctx.Err() != nil || attempt >= retryAttempts {
			break
		}
		sleep := backoff.Delay(retryBase, retryMax, attempt-1, rand.Float64())
		log.Warn("object store call failed, retrying", "op", what, "attempt", attempt, "in", sleep.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d attempts: %v)", ctx.Err(), attempt, err)
		case <-time.After(sleep):
		}
	}
	return err
}
