package collect

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producer is the part of kgo.Client the collector uses; it allows tests to
// fail produces on demand.
type producer interface {
	TryProduce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	Flush(ctx context.Context) error
	Close()
}

// admission bounds the records buffered in the producer. A request takes
// all its slots at once or none, so a full buffer answers 503 at once
// instead of blocking the handler or growing memory, and a request is never
// half published because the buffer filled up midway.
type admission struct {
	max      int64
	buffered atomic.Int64
}

func (a *admission) acquire(n int) bool {
	for {
		cur := a.buffered.Load()
		if cur+int64(n) > a.max {
			return false
		}
		if a.buffered.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

func (a *admission) release(n int) { a.buffered.Add(-int64(n)) }

// publish hands values to Kafka and waits until every one is acknowledged,
// failed, or the timeout passes. It returns nil only when all were acked.
//
// Records are produced with a context that outlives the request on
// purpose: kgo fails a whole partition's buffered batch when the first
// record's context ends, so a client hanging up must not fail its
// neighbours' events. RecordDeliveryTimeout bounds them instead.
func (c *Collector) publish(ctx context.Context, values [][]byte, reqID string) error {
	n := len(values)
	if !c.adm.acquire(n) {
		c.metrics.full.Inc()
		return reject(http.StatusServiceUnavailable, "collector buffer full (%d events buffered): retry later", c.adm.buffered.Load())
	}
	var (
		mu       sync.Mutex
		firstErr error
		left     atomic.Int64
		done     = make(chan struct{})
	)
	left.Store(int64(n))
	promise := func(_ *kgo.Record, err error) {
		c.adm.release(1)
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		if left.Add(-1) == 0 {
			close(done)
		}
	}
	hdr := []kgo.RecordHeader{{Key: "request_id", Value: []byte(reqID)}}
	for _, v := range values {
		c.prod.TryProduce(c.baseCtx, &kgo.Record{Topic: c.topic, Value: v, Headers: hdr}, promise)
	}
	timer := time.NewTimer(c.produceTimeout + time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return reject(http.StatusServiceUnavailable, "kafka did not acknowledge within %s", c.produceTimeout)
	case <-ctx.Done():
		return reject(http.StatusServiceUnavailable, "request ended before kafka acknowledged: %v", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr == nil {
		return nil
	}
	if errors.Is(firstErr, kerr.MessageTooLarge) || errors.Is(firstErr, kerr.RecordListTooLarge) {
		return reject(http.StatusRequestEntityTooLarge, "kafka refused the event as too large: %v", firstErr)
	}
	if errors.Is(firstErr, kgo.ErrMaxBuffered) {
		c.metrics.full.Inc()
		return reject(http.StatusServiceUnavailable, "producer buffer full: retry later")
	}
	return reject(http.StatusServiceUnavailable, "kafka unavailable: %v", firstErr)
}
