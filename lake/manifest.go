package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// The batch manifest is the lake's record of exactly-once ingest: one
// object per batch of one Kafka partition, under ManifestPrefix. Ingest
// writes it; compaction reads it to touch committed batches only.

// Manifest states. A batch's manifest is pinned before any of its data is
// uploaded and committed after all of it is; only then are the Kafka
// offsets committed.
const (
	BatchPinned    = "pinned"
	BatchCommitted = "committed"
)

// BatchManifest records one batch of one Kafka partition: the inclusive offset
// range it covers and the objects it wrote. On restart, a pinned manifest
// is replayed with exactly its range; a committed one is skipped.
type BatchManifest struct {
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
	version Version
}

// Key is where the manifest lives.
func (m *BatchManifest) Key() string { return ManifestKey(m.Topic, m.Partition, m.From) }

// Committed: every object of the batch is in place.
func (m *BatchManifest) Committed() bool { return m.State == BatchCommitted }

// Save writes the manifest conditionally: a new one only if its key is
// free (Create), an existing one only if it is still as this process last
// read or wrote it (Replace). Only the member that owns a Kafka partition
// writes its manifests, but a member that lost the partition without
// noticing yet (its session expired during a long batch) would otherwise
// overwrite the new owner's: a pinned range pinned again, a replay's
// intent log, a committed manifest set back to pinned. With the condition
// the stale member's save fails, its batch fails and resets, and the new
// owner's manifest stands.
func (m *BatchManifest) Save(ctx context.Context, st Store) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var v Version
	if m.version == "" {
		v, err = st.Create(ctx, m.Key(), raw)
	} else {
		v, err = st.Replace(ctx, m.Key(), raw, m.version)
	}
	if errors.Is(err, ErrPreconditionFailed) {
		return fmt.Errorf("save manifest %s/%d@%d: another process wrote it since this one read it "+
			"(the partition moved to another member, which replays the range): %w", m.Topic, m.Partition, m.From, err)
	}
	if err != nil {
		return fmt.Errorf("save manifest %s/%d@%d: %w", m.Topic, m.Partition, m.From, err)
	}
	m.version = v
	return nil
}

// LoadBatchManifests reads the manifests of one Kafka partition, sorted by From.
func LoadBatchManifests(ctx context.Context, st Store, topic string, partition int32) ([]*BatchManifest, error) {
	objs, err := st.List(ctx, ManifestPrefix(topic, partition))
	if err != nil {
		return nil, fmt.Errorf("list manifests of %s/%d: %w", topic, partition, err)
	}
	out := make([]*BatchManifest, 0, len(objs))
	for _, o := range objs {
		raw, v, err := st.GetVersion(ctx, o.Key)
		if errors.Is(err, ErrNotExist) {
			continue // pruned since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", o.Key, err)
		}
		m := new(BatchManifest)
		if err := json.Unmarshal(raw, m); err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", o.Key, err)
		}
		m.version = v
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out, nil
}
