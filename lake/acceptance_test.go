package lake_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// storeContract is the one acceptance test every backend passes: the
// promises of lake.Store that ingest's exactly-once protocol relies on.
func storeContract(t *testing.T, st lake.Store) {
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		require.NoError(t, st.Put(ctx, key, strings.NewReader(body), int64(len(body))))
	}
	get := func(key string) string {
		t.Helper()
		raw, err := lake.ReadAll(ctx, st, key)
		require.NoError(t, err)
		return string(raw)
	}

	put("t/dt=2026-11-22/hour=10/a.parquet", "aaaa")
	put("t/dt=2026-11-22/hour=10/b.parquet", "bb")
	put("t/dt=2026-11-22/hour=11/c.parquet", "c")
	put("u/x.json", "{}")
	require.Equal(t, "aaaa", get("t/dt=2026-11-22/hour=10/a.parquet"))

	// Put replaces a whole object (a replay overwrites, never appends).
	put("t/dt=2026-11-22/hour=10/a.parquet", "AA")
	require.Equal(t, "AA", get("t/dt=2026-11-22/hour=10/a.parquet"))

	o, err := st.Stat(ctx, "t/dt=2026-11-22/hour=10/b.parquet")
	require.NoError(t, err)
	require.EqualValues(t, 2, o.Size)

	objs, err := st.List(ctx, "t/")
	require.NoError(t, err)
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	require.Equal(t, []string{"t/dt=2026-11-22/hour=10/a.parquet", "t/dt=2026-11-22/hour=10/b.parquet", "t/dt=2026-11-22/hour=11/c.parquet"}, keys, "recursive and sorted")
	objs, err = st.List(ctx, "t/dt=2026-11-22/hour=1")
	require.NoError(t, err)
	require.Len(t, objs, 3, "a prefix need not end at a '/'")
	objs, err = st.List(ctx, "nothing/")
	require.NoError(t, err)
	require.Empty(t, objs)

	require.NoError(t, st.Delete(ctx, "u/x.json"))
	require.NoError(t, st.Delete(ctx, "u/x.json"), "deleting a missing key is not an error")
	_, err = st.Get(ctx, "u/x.json")
	require.True(t, errors.Is(err, lake.ErrNotExist), "get of a missing key: %v", err)
	_, err = st.Stat(ctx, "u/x.json")
	require.True(t, errors.Is(err, lake.ErrNotExist), "stat of a missing key: %v", err)

	// A size that does not match the reader fails and stores nothing.
	err = st.Put(ctx, "t/short.parquet", bytes.NewReader([]byte("abc")), 10)
	require.Error(t, err)
	_, err = st.Stat(ctx, "t/short.parquet")
	require.True(t, errors.Is(err, lake.ErrNotExist), "a failed put leaves no object: %v", err)

	for _, bad := range []string{"", "/abs", "../x", "a/../../x", "a//b", `a\b`} {
		require.Error(t, st.Put(ctx, bad, strings.NewReader("x"), 1), "key %q", bad)
	}
	require.True(t, strings.HasSuffix(st.URI("t/a"), "/t/a"), st.URI("t/a"))

	rc, err := st.Get(ctx, "t/dt=2026-11-22/hour=11/c.parquet")
	require.NoError(t, err)
	body, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "c", string(body))
}

func TestLocalStoreContract(t *testing.T) {
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	storeContract(t, st)
}
