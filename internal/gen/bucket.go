package gen

import (
	"context"
	"time"
)

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// It is a few lines, so silt does not take golang.org/x/time for it.
type bucket struct {
	rate   float64 // tokens per second; <= 0 means unlimited
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if burst < 1 {
		burst = 1
	}
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// wait takes n tokens, sleeping until they are there or ctx ends.
func (b *bucket) wait(ctx context.Context, n int) error {
	if b.rate <= 0 {
		return ctx.Err()
	}
	now := time.Now()
	b.tokens += now.Sub(b.last).Seconds() * b.rate
	b.last = now
	if b.tokens > b.burst {
		b.tokens = b.burst
	}
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return nil
	}
	// Going into debt and sleeping it off keeps the long-run rate exact
	// even when n exceeds the burst.
	d := time.Duration(-b.tokens / b.rate * float64(time.Second))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
