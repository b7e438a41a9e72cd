package ingest

import (
	"slices"
	"sort"

	"github.com/silt-etl/silt/lake"
)

// segmentKind says what to do with the records of a partition from some offset on.
type segmentKind int

const (
	segNew    segmentKind = iota // no manifest covers the offset: pin a new range
	segReplay                    // a pinned manifest covers it: redo exactly that range
	segSkip                      // a committed manifest covers it: already in the lake
)

func (k segmentKind) String() string {
	return [...]string{"new", "replay", "skip"}[k]
}

// segment is a decision for the records of one partition starting at an offset.
type segment struct {
	kind segmentKind
	m    *lake.BatchManifest // the covering manifest, for replay and skip
}

// segmentAt decides what the record at offset means, given the partition's
// manifests sorted by From. Ranges never overlap, so the last manifest
// starting at or before offset is the only one that can cover it.
func segmentAt(ms []*lake.BatchManifest, offset int64) segment {
	i := sort.Search(len(ms), func(i int) bool { return ms[i].From > offset }) - 1
	if i < 0 || ms[i].To < offset {
		return segment{kind: segNew}
	}
	if ms[i].State == lake.BatchCommitted {
		return segment{kind: segSkip, m: ms[i]}
	}
	return segment{kind: segReplay, m: ms[i]}
}

// planTo is the last offset of a new range starting at from: up to the
// high watermark seen at batch start, and at most budget records.
func planTo(from, highWatermark, budget int64) int64 {
	to := highWatermark - 1
	if budget > 0 && from+budget-1 < to {
		to = from + budget - 1
	}
	if to < from { // the record is past the snapshot: take just it
		to = from
	}
	return to
}

// staleObjects are the objects a crashed attempt recorded that its replay
// did not write again: they must go, or their rows would be doubled.
func staleObjects(previous, rewritten []string) []string {
	var out []string
	for _, k := range previous {
		if !slices.Contains(rewritten, k) {
			out = append(out, k)
		}
	}
	return out
}

// pruneable are manifests old enough to delete: all committed ones but
// the newest keep, never a pinned one.
func pruneable(ms []*lake.BatchManifest, keep int) []*lake.BatchManifest {
	var committed []*lake.BatchManifest
	for _, m := range ms {
		if m.State == lake.BatchCommitted {
			committed = append(committed, m)
		}
	}
	if len(committed) <= keep {
		return nil
	}
	return committed[:len(committed)-keep]
}
