// Package retention deletes partitions older than a retention period:
// their objects from the lake, then their registration from the catalog.
// Lake first: a partition registered without files reads as empty, while
// files without a registration would be found again by a repair.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/silt-etl/silt/lake"
)

// unregisterer is the catalog as retention sees it; nil when there is none
// (DuckDB's views need nothing).
type unregisterer interface {
	DropPartitions(ctx context.Context, table string, ps []lake.Partition) error
}

// refresher is a catalog whose tables read the lake's files when queried
// (DuckDB's views): told after the deletes, it rebuilds a table whose
// files are all gone, which would otherwise fail every query.
type refresher interface {
	Refresh(ctx context.Context, store lake.Store, table string) error
}

// Job is a retention job.
type Job struct {
	name  string
	store lake.Store
	cat   unregisterer
	keep  time.Duration
	log   *slog.Logger
}

// New keeps partitions for keep (by the end of their hour); log (nil:
// discard) gets a line per deleted partition.
func New(name string, store lake.Store, cat unregisterer, keep time.Duration, log *slog.Logger) (*Job, error) {
	if keep <= 0 {
		return nil, fmt.Errorf("retention job %s: retention must be positive, e.g. 720h", name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Job{name: name, store: store, cat: cat, keep: keep, log: log}, nil
}

func (j *Job) Name() string { return j.name }

// Run deletes every partition whose hour ended before scheduledAt - keep.
func (j *Job) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	cutoff := scheduledAt.Add(-j.keep)
	tables, err := lake.Tables(ctx, j.store)
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, table := range append(tables, lake.DeadLetterTable) {
		parts, err := lake.Partitions(ctx, j.store, table)
		if err != nil {
			return counts, err
		}
		var expired []lake.Partition
		for _, p := range parts {
			start, err := p.Start()
			if err != nil || start.Add(time.Hour).After(cutoff) {
				continue
			}
			expired = append(expired, p)
		}
		if len(expired) == 0 {
			continue
		}
		// Unregister first: a catalog that still lists a partition whose
		// files are gone fails queries, while files without a registration
		// are only kept a run longer. If the catalog is down, nothing is
		// deleted and the next run tries again.
		if j.cat != nil {
			if err := j.cat.DropPartitions(ctx, table, expired); err != nil {
				return counts, fmt.Errorf("expire partitions of %s: %w", table, err)
			}
		}
		for _, p := range expired {
			objs, err := j.store.List(ctx, p.Prefix())
			if err != nil {
				return counts, err
			}
			for _, o := range objs {
				if err := j.store.Delete(ctx, o.Key); err != nil {
					return counts, fmt.Errorf("expire %s: %w", p, err)
				}
				counts["objects"]++
			}
		}
		counts["partitions"] += int64(len(expired))
		if r, ok := j.cat.(refresher); ok {
			if err := r.Refresh(ctx, j.store, table); err != nil {
				return counts, fmt.Errorf("expire partitions of %s: %w", table, err)
			}
		}
	}
	if counts["partitions"] > 0 {
		j.log.Info("expired partitions", "partitions", counts["partitions"], "objects", counts["objects"], "before", cutoff)
	}
	return counts, nil
}
