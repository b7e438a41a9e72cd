// Package lake is silt's object store and the layout of tables, partitions,
// Parquet objects and batch manifests in it.
package lake

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) by Get and Stat for a missing key.
var ErrNotExist = errors.New("object does not exist")

// Object describes one stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store is the object store contract silt relies on. Keys are relative,
// '/'-separated and never contain "..".
type Store interface {
	// Put stores size bytes from r under key. It is idempotent (writing the
	// same key again replaces the object whole) and a reader never sees a
	// partial object.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key; a missing key gives an error wrapping ErrNotExist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes key; a missing key gives an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	// List returns every object under prefix, recursively, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URI is where an engine finds key: file:///abs/path or s3://bucket/prefix/key.
	URI(key string) string
}

// ReadAll reads a whole (small) object, such as a manifest.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
