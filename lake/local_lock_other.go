//go:build !unix

package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// lakeLock, without flock(2): a lock file created with O_EXCL. A holder
// that died leaves it behind, so one older than staleLock is broken.
type lakeLock struct {
	path string
	mu   sync.Mutex
}

const staleLock = 30 * time.Second

func (k *lakeLock) acquire(ctx context.Context) (func(), error) {
	k.mu.Lock()
	path := k.path
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path); k.mu.Unlock() }, nil
		}
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				k.mu.Unlock()
				return nil, err
			}
			continue
		case !errors.Is(err, os.ErrExist):
			k.mu.Unlock()
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLock {
			os.Remove(path)
			continue
		}
		select {
		case <-ctx.Done():
			k.mu.Unlock()
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// fileIdentity names one file: its size and modification time.
func fileIdentity(fi os.FileInfo) string {
	return fmt.Sprintf("%x.%x", fi.Size(), fi.ModTime().UnixNano())
}
