package scheduler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/silt-etl/silt/lake"
)

// Run statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Run is one entry of the run history.
type Run struct {
	Job       string           `json:"job"`
	Scheduled time.Time        `json:"scheduled"`
	Start     time.Time        `json:"start"`
	End       time.Time        `json:"end"`
	Status    string           `json:"status"`
	Attempts  int              `json:"attempts,omitempty"`
	Counts    map[string]int64 `json:"counts,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// Duration is how long the run took, retries included.
func (r Run) Duration() time.Duration { return r.End.Sub(r.Start) }

// historyPrefix holds one JSON-lines object per job. The history lives in
// the lake rather than a local file so that it sits next to the data it
// describes: `silt jobs` on any machine with the config sees it and a
// container needs no extra volume. S3 cannot append, so each job's recent
// runs are one bounded object rewritten whole (Put is atomic: a reader sees
// the old or the new history, never half).
const historyPrefix = lake.MetaPrefix + "runs/"

// DefaultKeep is how many runs per job the history keeps.
const DefaultKeep = 100

// History is the persisted run history. It is written by one `silt run` per
// lake; two runners on one lake would overwrite each other's entries.
type History struct {
	store lake.Store
	keep  int

	mu   sync.Mutex
	runs map[string][]Run // per job, oldest first
}

// OpenHistory loads the history of every job from the lake.
func OpenHistory(ctx context.Context, store lake.Store, keep int) (*History, error) {
	if keep <= 0 {
		keep = DefaultKeep
	}
	h := &History{store: store, keep: keep, runs: map[string][]Run{}}
	objs, err := store.List(ctx, historyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list run history: %w", err)
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".jsonl") {
			continue
		}
		raw, err := lake.ReadAll(ctx, store, o.Key)
		if errors.Is(err, lake.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read run history %s: %w", o.Key, err)
		}
		runs, err := decodeRuns(raw)
		if err != nil {
			return nil, fmt.Errorf("run history %s: %w", o.Key, err)
		}
		for _, r := range runs {
			h.runs[r.Job] = append(h.runs[r.Job], r)
		}
	}
	for job := range h.runs {
		rs := h.runs[job]
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Start.Before(rs[j].Start) })
	}
	return h, nil
}

func decodeRuns(raw []byte) ([]Run, error) {
	var runs []Run
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r Run
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		runs = append(runs, r)
	}
	return runs, sc.Err()
}

func historyKey(job string) string { return historyPrefix + url.PathEscape(job) + ".jsonl" }

// Record appends r to its job's history and persists it.
func (h *History) Record(ctx context.Context, r Run) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := append(h.runs[r.Job], r)
	if len(rs) > h.keep {
		rs = append([]Run(nil), rs[len(rs)-h.keep:]...)
	}
	h.runs[r.Job] = rs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, x := range rs {
		if err := enc.Encode(x); err != nil {
			return fmt.Errorf("encode run of %s: %w", r.Job, err)
		}
	}
	if err := h.store.Put(ctx, historyKey(r.Job), bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return fmt.Errorf("write run history of %s: %w", r.Job, err)
	}
	return nil
}

// Last returns up to n most recent runs of job, newest first.
func (h *History) Last(job string, n int) []Run {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.runs[job]
	out := make([]Run, 0, min(n, len(rs)))
	for i := len(rs) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, rs[i])
	}
	return out
}

// lastScheduled is the latest slot the scheduler handled for job, whatever
// its outcome; ok is false when the job never ran.
func (h *History) lastScheduled(job string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last time.Time
	for _, r := range h.runs[job] {
		if r.Scheduled.After(last) {
			last = r.Scheduled
		}
	}
	return last, !last.IsZero()
}

// lastSuccess is the end of job's latest successful run.
func (h *History) lastSuccess(job string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.runs[job]
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Status == StatusOK {
			return rs[i].End, true
		}
	}
	return time.Time{}, false
}
