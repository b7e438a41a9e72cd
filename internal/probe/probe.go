// Package probe checks that silt can reach and log in to each service it
// is configured for (Kafka, the lake, the catalog, alert targets), and
// says why not in plain words with the config key to fix. `silt check`
// runs the probes once; `silt run` keeps running them, so /readyz and the
// status page name a wrong password or an untrusted certificate instead of
// jobs failing quietly in a loop.
package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Probe checks one service.
type Probe struct {
	// Service is a short name: kafka, lake, catalog, smtp, webhook.
	Service string
	// Target says what is checked, without secrets: an address, a bucket.
	Target string
	// Run connects and returns what it found.
	Run func(ctx context.Context) (detail string, err error)
	// Explain turns an error into its cause and the key to fix ("" when unknown).
	Explain func(error) string
}

// Result is one probe's outcome.
type Result struct {
	Service string        `json:"service"`
	Target  string        `json:"target"`
	OK      bool          `json:"ok"`
	Detail  string        `json:"detail,omitempty"`
	Error   string        `json:"error,omitempty"`
	Cause   string        `json:"cause,omitempty"`
	Took    time.Duration `json:"took_ns"`
	At      time.Time     `json:"at"`
}

// Redactor removes secrets from text that came from a library's error.
type Redactor func(string) string

// RunAll runs the probes concurrently, each bounded by timeout, and
// returns their results in the probes' order.
func RunAll(ctx context.Context, probes []Probe, timeout time.Duration, redact Redactor) []Result {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	results := make([]Result, len(probes))
	var g errgroup.Group
	for i, p := range probes {
		g.Go(func() error {
			results[i] = runOne(ctx, p, timeout, redact)
			return nil
		})
	}
	_ = g.Wait() // runOne reports failures in its Result, never as an error
	return results
}

func runOne(ctx context.Context, p Probe, timeout time.Duration, redact Redactor) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	detail, err := p.Run(ctx)
	r := Result{Service: p.Service, Target: p.Target, Took: time.Since(start), At: start.UTC(), Detail: redact(detail)}
	if err == nil {
		r.OK = true
		return r
	}
	r.Error = redact(err.Error())
	if p.Explain != nil {
		r.Cause = redact(p.Explain(err))
	}
	if r.Cause == "" && errors.Is(err, context.DeadlineExceeded) {
		r.Cause = fmt.Sprintf("no answer within %s: is the service up and is %s right?", timeout, p.Target)
	}
	return r
}

// Failed is an error naming every failed result, or nil.
func Failed(results []Result) error {
	var msgs []string
	for _, r := range results {
		if !r.OK {
			msg := r.Service + " (" + r.Target + "): "
			if r.Cause != "" {
				msg += r.Cause
			} else {
				msg += r.Error
			}
			msgs = append(msgs, msg)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Monitor runs the probes on an interval and keeps the latest results.
type Monitor struct {
	probes   []Probe
	interval time.Duration
	timeout  time.Duration
	redact   Redactor
	onResult func(Result)

	mu   sync.Mutex
	last []Result
}

// MonitorOptions configure NewMonitor.
type MonitorOptions struct {
	Interval, Timeout time.Duration
	Redact            Redactor
	// OnResult sees every result, e.g. to log a change or set a gauge.
	OnResult func(Result)
}

// NewMonitor makes a monitor; Run starts it.
func NewMonitor(probes []Probe, o MonitorOptions) *Monitor {
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	return &Monitor{probes: probes, interval: o.Interval, timeout: o.Timeout, redact: o.Redact, onResult: o.OnResult}
}

// Run probes at once and then every interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		results := RunAll(ctx, m.probes, m.timeout, m.redact)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		m.last = results
		m.mu.Unlock()
		if m.onResult != nil {
			for _, r := range results {
				m.onResult(r)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Results are the latest results (nil before the first round ends).
func (m *Monitor) Results() []Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Result(nil), m.last...)
}

// Ready is nil when every service answered in the latest round (or none
// has finished yet), else the failures with their causes.
func (m *Monitor) Ready() error { return Failed(m.Results()) }
