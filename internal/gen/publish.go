package gen

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Options say how much to publish and how fast.
type Options struct {
	Seed uint64
	// Hosts and EventTypes may carry weights, "purchase_sword=3" (see
	// Weighted); empty: the defaults of NewEvents.
	Hosts      []string
	EventTypes []string
	// Rate is events per second; <= 0 is as fast as the sink takes them.
	Rate float64
	// Count stops after this many events; Duration after this long. With
	// neither, Run goes on until ctx ends.
	Count    int64
	Duration time.Duration
	// Batch is how many events go out together (one HTTP request, or one
	// token-bucket take; GET routes still send one request per event).
	// Default 100.
	Batch int
	// Workers send batches concurrently. Default 8.
	Workers int
	// Progress gets a line a second; nil: none.
	Progress io.Writer
	// Now gives event times; nil: time.Now.
	Now func() time.Time
	// Template, when set, makes the events instead of the game events
	// (Hosts and EventTypes are then unused).
	Template *Template
}

// source makes events one after another.
type source interface {
	Next(buf []byte, at time.Time) Event
}

// Key is one event type on one host, the unit counts are compared in.
type Key struct{ Type, Host string }

// Result is what a run achieved. Accepted counts only events the sink
// confirmed stored (Kafka acked, or the collector answered 2xx).
type Result struct {
	Sent, Accepted, Errors int64
	Elapsed                time.Duration
	PerKey                 map[Key]int64
	// FirstErr is the first failure, for the operator's eyes.
	FirstErr error
}

// Sink delivers batches and reports each event's outcome through done,
// possibly later and from another goroutine.
type Sink interface {
	Send(ctx context.Context, batch []Event, done func(Event, error))
	// Close waits for outstanding deliveries.
	Close(ctx context.Context) error
}

// Run publishes synthetic events into sink.
func Run(ctx context.Context, o Options, sink Sink) (*Result, error) {
	hosts, err := Weighted(o.Hosts)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	types, err := Weighted(o.EventTypes)
	if err != nil {
		return nil, fmt.Errorf("event types: %w", err)
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	st := &stats{perKey: map[Key]int64{}}
	done := st.done
	start := time.Now()
	stopProgress := st.progress(o.Progress, start, o.Count)

	batches := make(chan []Event, o.Workers)
	// The workers send until batches closes; a send reports its outcome
	// through done, not an error, so no worker ends the group early.
	var workers errgroup.Group
	for range o.Workers {
		workers.Go(func() error {
			for b := range batches {
				sink.Send(context.WithoutCancel(ctx), b, done)
			}
			return nil
		})
	}

	var src source = NewEvents(o.Seed, hosts, types)
	if o.Template != nil {
		src = o.Template.Source(o.Seed)
	}
	// The burst is a batch or a tenth of a second of events, whichever is
	// more, so batches do not starve a low rate.
	tb := newBucket(o.Rate, max(o.Batch, int(o.Rate/10)))
	var genErr error
	for o.Count <= 0 || st.sent.Load() < o.Count {
		n := o.Batch
		if o.Count > 0 {
			n = int(min(int64(n), o.Count-st.sent.Load()))
		}
		if err := tb.wait(ctx, n); err != nil {
			break
		}
		b := make([]Event, n)
		for i := range b {
			b[i] = src.Next(nil, o.Now())
		}
		select {
		case batches <- b:
			st.sent.Add(int64(n))
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(batches)
	_ = workers.Wait() // workers return no error
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := sink.Close(closeCtx); err != nil {
		genErr = fmt.Errorf("close sink: %w", err)
	}
	stopProgress()
	// ctx ending (the duration passed, or the operator interrupted) is a
	// normal stop: what was sent is reported either way.
	return st.result(time.Since(start)), genErr
}

type stats struct {
	sent, accepted, errors atomic.Int64
	mu                     sync.Mutex
	perKey                 map[Key]int64
	firstErr               error
}

func (s *stats) done(ev Event, err error) {
	if err != nil {
		s.errors.Add(1)
		s.mu.Lock()
		if s.firstErr == nil {
			s.firstErr = err
		}
		s.mu.Unlock()
		return
	}
	s.accepted.Add(1)
	s.mu.Lock()
	s.perKey[Key{ev.Type, ev.Host}]++
	s.mu.Unlock()
}

func (s *stats) result(elapsed time.Duration) *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Result{
		Sent: s.sent.Load(), Accepted: s.accepted.Load(), Errors: s.errors.Load(),
		Elapsed: elapsed, PerKey: s.perKey, FirstErr: s.firstErr,
	}
}

// progress prints a line a second until the returned stop is called;
// with a count (0: none) the line says how far along and the ETA.
func (s *stats) progress(w io.Writer, start time.Time, count int64) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		lastAt := start
		line := func(now time.Time) {
			acc := s.accepted.Load()
			rate := float64(acc-last) / now.Sub(lastAt).Seconds()
			last, lastAt = acc, now
			fmt.Fprintln(w, progressLine(now.Sub(start), rate, s.sent.Load(), count, acc, s.errors.Load()))
		}
		for {
			select {
			case now := <-t.C:
				line(now)
			case <-quit:
				line(time.Now())
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// progressLine is one progress line: elapsed time, the rate over the last
// second, the totals, and with a count (0: none) the share sent and an
// ETA at the average rate so far.
func progressLine(elapsed time.Duration, rate float64, sent, count, accepted, errors int64) string {
	line := fmt.Sprintf("gen: %6.1fs  rate %8.0f/s  sent %d", elapsed.Seconds(), rate, sent)
	if count > 0 {
		line += fmt.Sprintf(" of %d (%d%%)", count, sent*100/count)
	}
	line += fmt.Sprintf("  accepted %d  errors %d", accepted, errors)
	if count > 0 && sent < count {
		if sent > 0 && elapsed > 0 {
			eta := time.Duration(float64(count-sent) / float64(sent) * float64(elapsed))
			line += "  ETA " + eta.Round(time.Second).String()
		} else {
			line += "  ETA unknown"
		}
	}
	return line
}
