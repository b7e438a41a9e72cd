package ingest

import (
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/silt-etl/silt/lake"
)

// maxConcurrentUploads bounds a batch's uploads in flight. Uploading one
// object at a time on the batch goroutine left encoding idle for every
// upload (10M events into MinIO ran at 0.72 of the local lake's rate);
// a few at once keep a store's latency behind the encoding. The bound also
// bounds the spool: a finished file stays on disk until its upload ends,
// and closing another file waits for a free slot.
const maxConcurrentUploads = 4

// uploads puts a batch's finished files into the store in the background.
// After the first failure no upload starts, and the batch fails; those
// running finish (what a crashed attempt uploaded, its replay deletes or
// writes again). The zero value is ready, with maxConcurrentUploads slots.
type uploads struct {
	limit int // 0: maxConcurrentUploads

	g *errgroup.Group // nil when no upload ran since the last wait
	// mu guards failed, which start reads without waiting for the group.
	mu     sync.Mutex
	failed error
}

// start uploads size bytes of spool under key, waiting first for a free
// slot. release runs when the upload is over, whatever its outcome (it
// removes the spool file); uploaded only after success. start returns the
// error of an upload that already failed, so a failing batch stops early.
func (u *uploads) start(ctx context.Context, store lake.Store, key string, spool io.ReadSeeker, size int64, release, uploaded func()) error {
	if err := u.err(); err != nil {
		release()
		return err
	}
	if u.g == nil {
		u.g = new(errgroup.Group)
		limit := u.limit
		if limit <= 0 {
			limit = maxConcurrentUploads
		}
		u.g.SetLimit(limit)
	}
	u.g.Go(func() error {
		defer release()
		if err := store.Put(ctx, key, spool, size); err != nil {
			err = fmt.Errorf("upload %s: %w", key, err)
			u.mu.Lock()
			if u.failed == nil {
				u.failed = err
			}
			u.mu.Unlock()
			return err
		}
		uploaded()
		return nil
	})
	return nil
}

func (u *uploads) err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.failed
}

// wait returns once every upload started is over, with the first failure.
// A batch waits before it commits, and before it gives up: an upload still
// running then could overwrite what a replay of the range writes next.
func (u *uploads) wait() error {
	if u.g == nil {
		return u.err()
	}
	err := u.g.Wait()
	u.g = nil
	if err != nil {
		return err
	}
	return u.err()
}
