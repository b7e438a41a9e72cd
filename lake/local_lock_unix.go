//go:build unix

package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// lakeLock is an exclusive flock(2) on a lock file, between processes and
// between the goroutines of one. The kernel drops it when the holder's
// file is closed, also when the holder dies.
type lakeLock struct {
	path string
	mu   sync.Mutex // flock is per open file: one holder per process at a time
}

func (k *lakeLock) acquire(ctx context.Context) (func(), error) {
	k.mu.Lock()
	for {
		if err := ctx.Err(); err != nil {
			k.mu.Unlock()
			return nil, err
		}
		f, err := k.open()
		if err != nil {
			k.mu.Unlock()
			return nil, err
		}
		if err := flock(f, syscall.LOCK_EX); err != nil {
			_ = f.Close()
			k.mu.Unlock()
			return nil, err
		}
		// Someone may have removed the lock file while we waited for it:
		// then our lock is on a file no one else opens. Lock the one at
		// the path instead.
		held, herr := f.Stat()
		at, aerr := os.Stat(k.path)
		if herr == nil && aerr == nil && os.SameFile(held, at) {
			return func() {
				// Closing the file releases the lock too.
				_ = flock(f, syscall.LOCK_UN)
				_ = f.Close()
				k.mu.Unlock()
			}, nil
		}
		_ = f.Close()
		if herr != nil {
			k.mu.Unlock()
			return nil, herr
		}
	}
}

func (k *lakeLock) open() (*os.File, error) {
	f, err := os.OpenFile(k.path, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(k.path), 0o755); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(k.path, os.O_RDWR|os.O_CREATE, 0o644)
	}
	return f, err
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return fmt.Errorf("flock: %w", err)
			}
			return nil
		}
	}
}

// fileIdentity names one file: its device, inode and modification time.
func fileIdentity(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%x.%x.%x", uint64(st.Dev), uint64(st.Ino), fi.ModTime().UnixNano())
	}
	return fmt.Sprintf("%x.%x", fi.Size(), fi.ModTime().UnixNano())
}
