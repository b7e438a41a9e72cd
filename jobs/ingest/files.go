package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/silt-etl/silt/lake"
)

// fileID is what one open Parquet file gathers: rows of one table
// partition from one Kafka partition.
type fileID struct {
	partition lake.Partition
	topic     string
	kpart     int32
}

// fileLimits bound each file and the set of open files.
type fileLimits struct {
	targetBytes   int64 // close a file once its input bytes reach this
	rowGroupBytes int64
	maxOpen       int
	maxBuffered   int64 // estimated memory of all open files
	maxAge        time.Duration
}

// openFiles is the set of Parquet files a batch is writing. Closing is the
// caller's (upload) business: openFiles only decides which file must close.
type openFiles struct {
	limits fileLimits
	files  map[fileID]*parquetFile
	order  []fileID // oldest first
}

func newOpenFiles(l fileLimits) *openFiles {
	return &openFiles{limits: l, files: map[fileID]*parquetFile{}}
}

func (o *openFiles) get(id fileID) *parquetFile { return o.files[id] }

func (o *openFiles) add(id fileID, f *parquetFile) {
	o.files[id] = f
	o.order = append(o.order, id)
}

// remove forgets id (after it was closed).
func (o *openFiles) remove(id fileID) {
	delete(o.files, id)
	for i, x := range o.order {
		if x == id {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
}

// buffered estimates the memory the open files hold.
func (o *openFiles) buffered() int64 {
	var sum int64
	for _, f := range o.files {
		sum += f.memory()
	}
	return sum
}

// overLimit returns the file to close before opening another: the oldest,
// when the set is at its file or memory bound.
func (o *openFiles) overLimit() (fileID, bool) {
	if len(o.order) == 0 {
		return fileID{}, false
	}
	if len(o.order) >= o.limits.maxOpen || o.buffered() >= o.limits.maxBuffered {
		return o.order[0], true
	}
	return fileID{}, false
}

// overMemory returns the oldest file when the open files hold more than
// the memory bound, so that it is closed even when no other file opens.
func (o *openFiles) overMemory() (fileID, bool) {
	if len(o.order) == 0 || o.buffered() < o.limits.maxBuffered {
		return fileID{}, false
	}
	return o.order[0], true
}

// expired lists files older than the age bound, so a quiet partition's file
// is closed even when no new data arrives for it.
func (o *openFiles) expired(now time.Time) []fileID {
	var out []fileID
	for _, id := range o.order {
		if now.Sub(o.files[id].opened) >= o.limits.maxAge {
			out = append(out, id)
		}
	}
	return out
}

// closeAll closes every open file through closeFn, oldest first.
func (o *openFiles) closeAll(ctx context.Context, closeFn func(context.Context, fileID) error) error {
	for len(o.order) > 0 {
		if err := closeFn(ctx, o.order[0]); err != nil {
			return fmt.Errorf("close %s: %w", o.order[0].partition, err)
		}
	}
	return nil
}

// discardAll drops every open file without uploading (a failed batch).
func (o *openFiles) discardAll() {
	for _, f := range o.files {
		f.w.Discard()
	}
	o.files = map[fileID]*parquetFile{}
	o.order = nil
}
