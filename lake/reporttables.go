package lake

import (
	"context"
	"sync"
	"time"
)

// unmarkedRecheck is how long a table read without a report mark is
// taken as an event type before its schema is read again. A report job
// marks its table before it first registers it, so a table the catalog
// lists is normally marked already when first asked about; only a report
// table written before silt marked them gets its mark later (on the
// report's next run), and is then left out within this long.
const unmarkedRecheck = time.Minute

// ReportTables tells which tables are a report's output (their schema's
// Report mark) rather than an event type, for everything meaning "every
// event table". It remembers what it read, so asking on a hot path
// costs a schema read per table only the first time and then once per
// unmarkedRecheck for event tables: a mark is never removed, so a marked
// table is remembered for good. Safe for concurrent use.
type ReportTables struct {
	st  Store
	now func() time.Time

	mu       sync.Mutex
	marked   map[string]bool
	unmarked map[string]time.Time // table -> when its schema was read without a mark
}

// NewReportTables reads the marks from st's table schemas.
func NewReportTables(st Store) *ReportTables {
	return &ReportTables{st: st, now: time.Now, marked: map[string]bool{}, unmarked: map[string]time.Time{}}
}

// Of is the set of tables among names that are a report's output. A
// table without a schema in the lake (or a nil ReportTables) counts as
// an event type.
func (r *ReportTables) Of(ctx context.Context, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	if r == nil || r.st == nil {
		return out, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, name := range names {
		if r.marked[name] {
			out[name] = true
			continue
		}
		if at, ok := r.unmarked[name]; ok && now.Sub(at) < unmarkedRecheck {
			continue
		}
		s, _, err := LoadSchema(ctx, r.st, name)
		if err != nil {
			return nil, err
		}
		if s.IsReport() {
			r.marked[name] = true
			delete(r.unmarked, name)
			out[name] = true
			continue
		}
		r.unmarked[name] = now
	}
	return out, nil
}
