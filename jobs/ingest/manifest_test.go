package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// A member that lost its partition without noticing (its session expired
// during a long batch) must not overwrite the manifests of the member that
// took the partition over: its saves are conditional on the version it
// last wrote, and fail; the new owner's manifest stands.
func TestStaleOwnerCannotOverwriteTheNewOwnersManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stale, err := lake.NewLocal(dir)
	require.NoError(t, err)
	owner, err := lake.NewLocal(dir) // another process's store on the same lake
	require.NoError(t, err)

	// The old owner pins a range and records its first object.
	m := &manifest{Topic: "events", Partition: 2, From: 100, To: 199, State: statePinned}
	require.NoError(t, m.save(ctx, stale))
	m.Objects = append(m.Objects, "t/dt=2026-11-22/hour=10/events-p2-00000000000000000100.parquet")
	require.NoError(t, m.save(ctx, stale))

	// The new owner finds it pinned, replays it and commits it.
	ms, err := loadManifests(ctx, owner, "events", 2)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	replay := *ms[0]
	replay.State = stateCommitted
	require.NoError(t, replay.save(ctx, owner))

	// The old owner, still writing its batch, cannot set it back.
	m.Objects = append(m.Objects, "t/dt=2026-11-22/hour=10/events-p2-00000000000000000150.parquet")
	err = m.save(ctx, stale)
	require.ErrorIs(t, err, lake.ErrPreconditionFailed)
	require.ErrorContains(t, err, "the partition moved to another member")
	// Nor pin the range again from a stale view of the manifests.
	again := &manifest{Topic: "events", Partition: 2, From: 100, To: 180, State: statePinned}
	require.ErrorIs(t, again.save(ctx, stale), lake.ErrPreconditionFailed)

	ms, err = loadManifests(ctx, owner, "events", 2)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, stateCommitted, ms[0].State, "the new owner's manifest stands")
	require.EqualValues(t, 199, ms[0].To)
	require.Len(t, ms[0].Objects, 1)
}

// markingRegistrar repairs while another process's registration fails and
// marks the catalog for repair again.
type markingRegistrar struct {
	flakyRegistrar
	other *Job
}

func (m *markingRegistrar) RepairAll(ctx context.Context, st lake.Store) error {
	if m.other != nil {
		if err := m.other.register(ctx, []catalog.Change{{Schema: lake.TableSchema{Table: "t"}}}); err == nil {
			return errors.New("the other process's registration should have failed")
		}
		m.other = nil
	}
	return m.flakyRegistrar.RepairAll(ctx, st)
}

// A repair clears the repair marker only if nobody marked it again while
// the repair ran: that mark's data may have landed too late for the repair.
func TestRepairKeepsAMarkMadeWhileItRan(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stA, err := lake.NewLocal(dir)
	require.NoError(t, err)
	stB, err := lake.NewLocal(dir)
	require.NoError(t, err)
	optsB := DefaultOptions()
	optsB.Registrar = &flakyRegistrar{down: true}
	b := New(optsB, stB)
	regA := &markingRegistrar{other: b}
	optsA := DefaultOptions()
	optsA.Registrar = regA
	a := New(optsA, stA)

	require.NoError(t, stA.Put(ctx, registerPendingKey, strings.NewReader("x"), 1))
	require.NoError(t, a.register(ctx, nil))
	require.Equal(t, 1, regA.repaired)
	_, err = stA.Stat(ctx, registerPendingKey)
	require.NoError(t, err, "b's mark, made during a's repair, is kept")

	require.NoError(t, a.register(ctx, nil))
	require.Equal(t, 2, regA.repaired, "the next batch repairs again")
	_, err = stA.Stat(ctx, registerPendingKey)
	require.ErrorIs(t, err, lake.ErrNotExist, "and clears the marker")
}
