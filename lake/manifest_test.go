package lake

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A member that lost its partition without noticing (its session expired
// during a long batch) must not overwrite the manifests of the member that
// took the partition over: its saves are conditional on the version it
// last wrote, and fail; the new owner's manifest stands.
func TestStaleOwnerCannotOverwriteTheNewOwnersManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stale, err := NewLocal(dir)
	require.NoError(t, err)
	owner, err := NewLocal(dir) // another process's store on the same lake
	require.NoError(t, err)

	// The old owner pins a range and records its first object.
	m := &BatchManifest{Topic: "events", Partition: 2, From: 100, To: 199, State: BatchPinned}
	require.NoError(t, m.Save(ctx, stale))
	m.Objects = append(m.Objects, "t/dt=2026-11-22/hour=10/events-p2-00000000000000000100.parquet")
	require.NoError(t, m.Save(ctx, stale))

	// The new owner finds it pinned, replays it and commits it.
	ms, err := LoadBatchManifests(ctx, owner, "events", 2)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	replay := *ms[0]
	replay.State = BatchCommitted
	require.NoError(t, replay.Save(ctx, owner))

	// The old owner, still writing its batch, cannot set it back.
	m.Objects = append(m.Objects, "t/dt=2026-11-22/hour=10/events-p2-00000000000000000150.parquet")
	err = m.Save(ctx, stale)
	require.ErrorIs(t, err, ErrPreconditionFailed)
	require.ErrorContains(t, err, "the partition moved to another member")
	// Nor pin the range again from a stale view of the manifests.
	again := &BatchManifest{Topic: "events", Partition: 2, From: 100, To: 180, State: BatchPinned}
	require.ErrorIs(t, again.Save(ctx, stale), ErrPreconditionFailed)

	ms, err = LoadBatchManifests(ctx, owner, "events", 2)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, BatchCommitted, ms[0].State, "the new owner's manifest stands")
	require.EqualValues(t, 199, ms[0].To)
	require.Len(t, ms[0].Objects, 1)
}
