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
