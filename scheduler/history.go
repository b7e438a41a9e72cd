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

	"github.com/silt-etl/silt/internal/backoff"
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
	// Process is the silt process that ran (or skipped) it: its lease
	// holder name (Options.Holder). Processes sharing a lake share the
	// history.
	Process string `json:"process,omitempty"`
}

// Duration is how long the run took, retries included.
func (r Run) Duration() time.Duration { return r.End.Sub(r.Start) }

// historyPrefix holds one JSON-lines object per job. The history lives in
// the lake rather than a local file so that it sits next to the data it
// describes: `silt jobs` on any machine with the config sees it and a
// container needs no extra volume. S3 cannot append, so each job's recent
// runs are one bounded object rewritten whole (a reader sees the old or
// the new history, never half).
const historyPrefix = lake.MetaPrefix + "runs/"

// DefaultKeep is how many runs per job the history keeps.
const DefaultKeep = 100

// historyAttempts bounds Record's read-merge-write rounds against other
// processes recording runs of the same job; the caller's context (30 s,
// historyWriteTimeout) bounds them too. Generous: every process records
// every ingest run under one key, and a round lost to a busy neighbour
// must not drop a run (12 rounds lost runs with 8 writers on 2 busy cores).
const historyAttempts = 100

// History is the persisted run history. Several `silt run` processes on
// one lake write the same objects (every process runs ingest, and records
// its runs under the job's one key): Record merges its run into what the
// lake has and writes conditionally, so no process's run is lost.
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

// Record appends r to its job's history and persists it. Other processes
// may be recording runs of the same job into the same object, so it is
// read with its version, r (and any run of this process the object lacks)
// merged in, and written back only if unchanged: Create for the first
// run, Replace after. A lost race reads again and merges again, never
// overwriting another process's run. The merged history, other processes'
// runs included, is what this process knows of the job afterwards.
func (h *History) Record(ctx context.Context, r Run) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Remembered even when it cannot be written: the status page shows it.
	h.runs[r.Job] = mergeRuns(nil, append(h.runs[r.Job], r), h.keep)
	key := historyKey(r.Job)
	var lost error
	for attempt := 1; attempt <= historyAttempts; attempt++ {
		raw, v, err := h.store.GetVersion(ctx, key)
		exists := err == nil
		var stored []Run
		switch {
		case errors.Is(err, lake.ErrNotExist):
		case err != nil:
			return fmt.Errorf("read run history of %s: %w", r.Job, err)
		default:
			// An unreadable history is replaced by what this process
			// knows, still conditionally.
			stored, _ = decodeRuns(raw)
		}
		merged := mergeRuns(stored, h.runs[r.Job], h.keep)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, x := range merged {
			if err := enc.Encode(x); err != nil {
				return fmt.Errorf("encode run of %s: %w", r.Job, err)
			}
		}
		if exists {
			_, err = h.store.Replace(ctx, key, buf.Bytes(), v)
		} else {
			_, err = h.store.Create(ctx, key, buf.Bytes())
		}
		if err == nil {
			h.runs[r.Job] = merged
			return nil
		}
		if !errors.Is(err, lake.ErrPreconditionFailed) {
			return fmt.Errorf("write run history of %s: %w", r.Job, err)
		}
		lost = err
		// Real time, not the scheduler's clock: this waits out another
		// process's write, which happens in real time.
		if err := backoff.Sleep(ctx, 2*time.Millisecond, 100*time.Millisecond, attempt-1); err != nil {
			return fmt.Errorf("write run history of %s: %w", r.Job, err)
		}
	}
	return fmt.Errorf("write run history of %s: other processes kept writing it (%d rounds lost): %w", r.Job, historyAttempts, lost)
}

// mergeRuns is the union of two run lists (a run in both counts once),
// oldest first by start, at most the last keep.
func mergeRuns(a, b []Run, keep int) []Run {
	seen := map[string]bool{}
	var out []Run
	for _, list := range [][]Run{a, b} {
		for _, r := range list {
			id, err := json.Marshal(r)
			if err != nil || seen[string(id)] {
				continue
			}
			seen[string(id)] = true
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	if len(out) > keep {
		out = append([]Run(nil), out[len(out)-keep:]...)
	}
	return out
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
