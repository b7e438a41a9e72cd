package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Conditional writes on a local lake, correct between processes on one
// host (several `silt run` sharing a directory):
//
//   - Every write puts a new file in place (a temporary file, written and
//     fsynced, then renamed or linked to the key): the file at a key is
//     never modified in place. So a file's identity (inode and mtime) and
//     its content hash name one write, and Version is both: equal versions
//     mean equal bytes, and a new write gets a new inode.
//   - Create links the temporary file to the key: link(2), unlike
//     rename(2), fails with EEXIST when the key exists, atomically in the
//     kernel, whoever else is writing. No lock is needed.
//   - Replace must check the current version and rename as one step, and
//     rename(2) has no condition. So it takes the lake's lock, a flock(2)
//     on one lock file (_silt/.lock), only around the check and the rename
//     (the new file is written and fsynced before). flock rather than an
//     O_EXCL lock file: the kernel releases it when its holder dies, so a
//     kill -9 can never leave a stale lock that someone has to break. Put's
//     rename and Delete take the same lock, so nothing changes the key
//     between a Replace's check and its rename; Create needs no lock, as a
//     key a Replace just checked exists and stays until the rename.
//
// One lock for the whole lake: it is held for microseconds (a hash of a
// small object and a rename), and conditional writes are for metadata.

// localLockKey is the lock file, under silt's own prefix; List skips it.
const localLockKey = MetaPrefix + ".lock"

// Create stores data under key only if key does not exist.
func (l *Local) Create(ctx context.Context, key string, data []byte) (Version, error) {
	p, err := l.path(key)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("create %s: %w", key, err)
	}
	tmp, v, err := writeTemp(p, data)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", key, err)
	}
	defer func() { _ = os.Remove(tmp) }() // the key keeps its own link to the file
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create %s: the key exists: %w", key, ErrPreconditionFailed)
		}
		return "", fmt.Errorf("create %s (the lake's file system must support hard links): %w", key, err)
	}
	return v, nil
}

// Replace stores data under key only if key's current version is prev.
func (l *Local) Replace(ctx context.Context, key string, data []byte, prev Version) (Version, error) {
	p, err := l.path(key)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("replace %s: %w", key, err)
	}
	if _, err := os.Stat(filepath.Dir(p)); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("replace %s: the key does not exist: %w", key, ErrPreconditionFailed)
	}
	tmp, v, err := writeTemp(p, data)
	if err != nil {
		return "", fmt.Errorf("replace %s: %w", key, err)
	}
	defer func() { _ = os.Remove(tmp) }() // a no-op after the rename
	err = l.locked(ctx, func() error {
		_, cur, err := readVersion(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("the key was deleted: %w", ErrPreconditionFailed)
		case err != nil:
			return err
		case cur != prev:
			return fmt.Errorf("the key is at another version: %w", ErrPreconditionFailed)
		}
		return os.Rename(tmp, p)
	})
	if err != nil {
		return "", fmt.Errorf("replace %s: %w", key, err)
	}
	return v, nil
}

// GetVersion reads key and the version of exactly the bytes read.
func (l *Local) GetVersion(ctx context.Context, key string) ([]byte, Version, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	data, v, err := readVersion(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("get %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	return data, v, nil
}

// writeTemp writes data to a new, fsynced temporary file beside p and
// returns its path and the version it will have at the key (rename and
// link keep both the inode and the mtime).
func writeTemp(p string, data []byte) (string, Version, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", "", err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return "", "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", "", err
	}
	return f.Name(), localVersion(data, fi), nil
}

// readVersion reads the file at p and its version, from one open file:
// the identity and the bytes are of the same write.
func readVersion(p string) ([]byte, Version, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, "", err
	}
	return data, localVersion(data, fi), nil
}

// localVersion is a content hash and the file's identity.
func localVersion(data []byte, fi os.FileInfo) Version {
	sum := sha256.Sum256(data)
	return Version(hex.EncodeToString(sum[:12]) + "-" + fileIdentity(fi))
}

// locked runs fn holding the lake's lock.
func (l *Local) locked(ctx context.Context, fn func() error) error {
	unlock, err := l.lock.acquire(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", l.lock.path, err)
	}
	defer unlock()
	return fn()
}
