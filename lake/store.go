// Package lake is silt's object store and the layout of tables, partitions,
// Parquet objects and batch manifests in it.
package lake

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) by Get, Stat and GetVersion for a
// missing key.
var ErrNotExist = errors.New("object does not exist")

// ErrPreconditionFailed is returned (wrapped) by Create when the key
// exists and by Replace when the key is no longer at the version given
// (another writer changed or deleted it). The caller lost a race: it
// re-reads with GetVersion and decides again; it never overwrites.
var ErrPreconditionFailed = errors.New("precondition failed: the object changed since it was read")

// Version identifies one write of an object, for Replace: the S3 ETag, or
// the local store's content hash and file identity. It is opaque: compare
// versions only for equality, and only versions of the same key.
type Version string

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

	// Conditional writes, for what more than one silt process may write
	// (schemas, manifests, run history, leases): each is atomic against
	// every other write of the key, from any process sharing the lake.
	//
	// Create stores data under key only if key does not exist; otherwise
	// it stores nothing and returns an error wrapping ErrPreconditionFailed.
	Create(ctx context.Context, key string, data []byte) (Version, error)
	// Replace stores data under key only if key's current version is prev;
	// if key changed or was deleted since, it stores nothing and returns an
	// error wrapping ErrPreconditionFailed.
	Replace(ctx context.Context, key string, data []byte, prev Version) (Version, error)
	// GetVersion reads a whole (small) object and the version of exactly
	// those bytes; a missing key gives an error wrapping ErrNotExist.
	GetVersion(ctx context.Context, key string) ([]byte, Version, error)

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
