package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/silt-etl/silt/lake"
)

// Manifest states. A batch's manifest is pinned before any of its data is
// uploaded and committed after all of it is; only then are the Kafka
// offsets committed.
const (
	statePinned    = "pinned"
	stateCommitted = "committed"
)

// manifest records one batch of one Kafka partition: the inclusive offset
// range it covers and the objects it wrote. On restart, a pinned manifest
// is replayed with exactly its range; a committed one is skipped.
type manifest struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
	State     string `json:"state"`
	// IngestedAt and TargetFileBytes are reused by a replay so that it
	// writes the same rows into the same objects.
	IngestedAt      time.Time `json:"ingested_at"`
	TargetFileBytes int64     `json:"target_file_bytes"`
	// Objects is an intent log: a key is added before its upload starts,
	// so a replay can delete what a crashed attempt wrote and it did not.
	Objects     []string         `json:"objects"`
	Rows        map[string]int64 `json:"rows,omitempty"`
	DeadLetters int64            `json:"dead_letters,omitempty"`
	PinnedAt    time.Time        `json:"pinned_at"`
	CommittedAt *time.Time       `json:"committed_at,omitempty"`

	// version is the manifest's version in the lake as this process last
	// read or wrote it; "" for a manifest not written yet.
	version lake.Version
}

func (m *manifest) key() string { return lake.ManifestKey(m.Topic, m.Partition, m.From) }

// save writes the manifest conditionally: a new one only if its key is
// free (Create), an existing one only if it is still as this process last
// read or wrote it (Replace). Only the member that owns a Kafka partition
// writes its manifests, but a member that lost the partition without
// noticing yet (its session expired during a long batch) would otherwise
// overwrite the new owner's: a pinned range pinned again, a replay's
// intent log, a committed manifest set back to pinned. With the condition
// the stale member's save fails, its batch fails and resets, and the new
// owner's manifest stands.
func (m *manifest) save(ctx context.Context, st lake.Store) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var v lake.Version
	if m.version == "" {
		v, err = st.Create(ctx, m.key(), raw)
	} else {
		v, err = st.Replace(ctx, m.key(), raw, m.version)
	}
	if errors.Is(err, lake.ErrPreconditionFailed) {
		return fmt.Errorf("save manifest %s/%d@%d: another process wrote it since this one read it "+
			"(the partition moved to another member, which replays the range): %w", m.Topic, m.Partition, m.From, err)
	}
	if err != nil {
		return fmt.Errorf("save manifest %s/%d@%d: %w", m.Topic, m.Partition, m.From, err)
	}
	m.version = v
	return nil
}

// loadManifests reads the manifests of one Kafka partition, sorted by From.
func loadManifests(ctx context.Context, st lake.Store, topic string, partition int32) ([]*manifest, error) {
	objs, err := st.List(ctx, lake.ManifestPrefix(topic, partition))
	if err != nil {
		return nil, fmt.Errorf("list manifests of %s/%d: %w", topic, partition, err)
	}
	out := make([]*manifest, 0, len(objs))
	for _, o := range objs {
		raw, v, err := st.GetVersion(ctx, o.Key)
		if errors.Is(err, lake.ErrNotExist) {
			continue // pruned since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", o.Key, err)
		}
		m := new(manifest)
		if err := json.Unmarshal(raw, m); err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", o.Key, err)
		}
		m.version = v
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out, nil
}

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
	m    *manifest // the covering manifest, for replay and skip
}

// segmentAt decides what the record at offset means, given the partition's
// manifests sorted by From. Ranges never overlap, so the last manifest
// starting at or before offset is the only one that can cover it.
func segmentAt(ms []*manifest, offset int64) segment {
	i := sort.Search(len(ms), func(i int) bool { return ms[i].From > offset }) - 1
	if i < 0 || ms[i].To < offset {
		return segment{kind: segNew}
	}
	if ms[i].State == stateCommitted {
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
func pruneable(ms []*manifest, keep int) []*manifest {
	var committed []*manifest
	for _, m := range ms {
		if m.State == stateCommitted {
			committed = append(committed, m)
		}
	}
	if len(committed) <= keep {
		return nil
	}
	return committed[:len(committed)-keep]
}
