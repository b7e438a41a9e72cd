package lake_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// Writers adding different columns at once: every column ends up in the
// schema, once; writers adding the same column with different types: the
// first committed type is the one every writer gets back.
func TestAddColumnsRacingWritersLoseNothing(t *testing.T) {
	dir := t.TempDir()
	addColumnsRace(t, func() lake.Store {
		st, err := lake.NewLocal(dir) // a store each, as separate processes
		require.NoError(t, err)
		return st
	})
}

func addColumnsRace(t *testing.T, open func() lake.Store) {
	t.Helper()
	ctx := context.Background()
	const writers = 16
	committed := make([]lake.TableSchema, writers)
	var wg sync.WaitGroup
	for i := range writers {
		st := open()
		wg.Add(1)
		go func() {
			defer wg.Done()
			typ := lake.TypeDouble
			if i%2 == 1 {
				typ = lake.TypeVarchar
			}
			s, err := lake.AddColumns(ctx, st, "t", []lake.Column{{Name: "shared", Type: typ}, {Name: fmt.Sprintf("own_%d", i), Type: lake.TypeBoolean}})
			if err != nil {
				t.Error(err)
				return
			}
			committed[i] = s
		}()
	}
	wg.Wait()
	final, ok, err := lake.LoadSchema(ctx, open(), "t")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, final.Columns, writers+1, "every writer's column, and the shared one once: %v", final.Columns)
	for i := range writers {
		require.GreaterOrEqual(t, final.Index(fmt.Sprintf("own_%d", i)), 0, "own_%d lost", i)
	}
	shared := final.Columns[final.Index("shared")]
	for i, s := range committed {
		// What each writer got back is a prefix of the final schema, and
		// tells it the one type of the shared column.
		require.Equal(t, final.Columns[:len(s.Columns)], s.Columns, "writer %d", i)
		require.Equal(t, shared, s.Columns[s.Index("shared")], "writer %d adopts the first committed type", i)
	}
}

func TestUpdateSchemaRefusesRetypingDroppingAndReordering(t *testing.T) {
	ctx := context.Background()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	_, err = lake.AddColumns(ctx, st, "t", []lake.Column{{Name: "a", Type: lake.TypeDouble}, {Name: "b", Type: lake.TypeVarchar}})
	require.NoError(t, err)
	for name, cols := range map[string][]lake.Column{
		"retype":  {{Name: "a", Type: lake.TypeVarchar}, {Name: "b", Type: lake.TypeVarchar}},
		"drop":    {{Name: "a", Type: lake.TypeDouble}},
		"reorder": {{Name: "b", Type: lake.TypeVarchar}, {Name: "a", Type: lake.TypeDouble}},
		"twice":   {{Name: "a", Type: lake.TypeDouble}, {Name: "b", Type: lake.TypeVarchar}, {Name: "a", Type: lake.TypeDouble}},
	} {
		_, err := lake.UpdateSchema(ctx, st, "t", func(s lake.TableSchema) (lake.TableSchema, error) {
			s.Columns = cols
			return s, nil
		})
		require.Error(t, err, name)
	}
	s, _, err := lake.LoadSchema(ctx, st, "t")
	require.NoError(t, err)
	require.Equal(t, []lake.Column{{Name: "a", Type: lake.TypeDouble}, {Name: "b", Type: lake.TypeVarchar}}, s.Columns)

	// Adding what is there writes nothing and returns the committed types.
	_, v, err := st.GetVersion(ctx, lake.SchemaKey("t"))
	require.NoError(t, err)
	got, err := lake.AddColumns(ctx, st, "t", []lake.Column{{Name: "a", Type: lake.TypeBoolean}})
	require.NoError(t, err)
	require.Equal(t, s.Columns, got.Columns)
	_, v2, err := st.GetVersion(ctx, lake.SchemaKey("t"))
	require.NoError(t, err)
	require.Equal(t, v, v2, "no write")
}

// alwaysLoses is a store where another process always commits first.
type alwaysLoses struct {
	lake.Store
	replaces int
}

func (a *alwaysLoses) Replace(ctx context.Context, key string, data []byte, prev lake.Version) (lake.Version, error) {
	a.replaces++
	return "", fmt.Errorf("replace %s: %w", key, lake.ErrPreconditionFailed)
}

func TestUpdateSchemaGivesUpAfterLosingEveryRound(t *testing.T) {
	ctx := context.Background()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	_, err = lake.AddColumns(ctx, st, "t", []lake.Column{{Name: "a", Type: lake.TypeDouble}})
	require.NoError(t, err)
	loser := &alwaysLoses{Store: st}
	_, err = lake.AddColumns(ctx, loser, "t", []lake.Column{{Name: "b", Type: lake.TypeDouble}})
	require.Error(t, err)
	require.ErrorIs(t, err, lake.ErrPreconditionFailed, "%v", err)
	require.Contains(t, err.Error(), "save schema of t: other processes changed it 12 times in a row")
	require.Equal(t, 12, loser.replaces, "bounded")
}
