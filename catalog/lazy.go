package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/silt-etl/silt/lake"
)

// Lazy is a catalog opened on first use and again after every failed
// attempt. A catalog that is down when silt starts (Trino still booting, a
// DuckDB file another process holds) then only delays registration,
// reports and the events API; it never disables them for the life of the
// process. Ingest sees a failed open as a failed registration, which marks
// the catalog for repair, so the first batch after the catalog is back
// registers everything the earlier ones wrote.
type Lazy struct {
	open func(ctx context.Context) (*Catalog, error)
	log  *slog.Logger

	mu  sync.Mutex
	cat *Catalog
}

// NewLazy opens the catalog with open when it is first needed; log (nil:
// discard) notes when it connects.
func NewLazy(open func(ctx context.Context) (*Catalog, error), log *slog.Logger) *Lazy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lazy{open: open, log: log}
}

// Get returns the open catalog, opening it if it is not yet.
func (l *Lazy) Get(ctx context.Context) (*Catalog, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cat != nil {
		return l.cat, nil
	}
	cat, err := l.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	l.log.Info("catalog connected", "engine", cat.Dialect())
	l.cat = cat
	return cat, nil
}

// Register is Catalog.Register once the catalog opens.
func (l *Lazy) Register(ctx context.Context, changes []Change) error {
	cat, err := l.Get(ctx)
	if err != nil {
		return err
	}
	return cat.Register(ctx, changes)
}

// RepairAll is Catalog.RepairAll once the catalog opens.
func (l *Lazy) RepairAll(ctx context.Context, store lake.Store) error {
	cat, err := l.Get(ctx)
	if err != nil {
		return err
	}
	return cat.RepairAll(ctx, store)
}

// DropPartitions is Catalog.DropPartitions once the catalog opens.
func (l *Lazy) DropPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	cat, err := l.Get(ctx)
	if err != nil {
		return err
	}
	return cat.DropPartitions(ctx, table, ps)
}

// Refresh is Catalog.Refresh once the catalog opens.
func (l *Lazy) Refresh(ctx context.Context, store lake.Store, table string) error {
	cat, err := l.Get(ctx)
	if err != nil {
		return err
	}
	return cat.Refresh(ctx, store, table)
}

// Close closes the catalog if it is open.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cat != nil {
		if err := l.cat.Close(); err != nil {
			l.log.Warn("close catalog", "err", err)
		}
		l.cat = nil
	}
}

// repairer re-derives a catalog from the lake: a Catalog or a Lazy.
type repairer interface {
	RepairAll(ctx context.Context, store lake.Store) error
}

// RegisterJob is the scheduled register job: it registers every table and
// partition found in the lake, repairing whatever an ingest batch could
// not register.
type RegisterJob struct {
	name  string
	cat   repairer
	store lake.Store
}

// NewRegisterJob makes a register job named name over cat (a *Catalog or
// a *Lazy) and the lake store.
func NewRegisterJob(name string, cat repairer, store lake.Store) *RegisterJob {
	return &RegisterJob{name: name, cat: cat, store: store}
}

func (j *RegisterJob) Name() string { return j.name }

// Run repairs the catalog from the lake and counts the tables.
func (j *RegisterJob) Run(ctx context.Context, _ time.Time) (map[string]int64, error) {
	if err := j.cat.RepairAll(ctx, j.store); err != nil {
		return nil, err
	}
	tables, err := lake.Tables(ctx, j.store)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"tables": int64(len(tables))}, nil
}
