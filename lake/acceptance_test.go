package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// storeContract is the one acceptance test every backend passes: the
// promises of lake.Store that ingest's exactly-once protocol relies on.
func storeContract(t *testing.T, st lake.Store) {
	t.Helper()
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
	require.ErrorIs(t, err, lake.ErrNotExist, "get of a missing key: %v", err)
	_, err = st.Stat(ctx, "u/x.json")
	require.ErrorIs(t, err, lake.ErrNotExist, "stat of a missing key: %v", err)

	// A size that does not match the reader fails and stores nothing.
	err = st.Put(ctx, "t/short.parquet", bytes.NewReader([]byte("abc")), 10)
	require.Error(t, err)
	_, err = st.Stat(ctx, "t/short.parquet")
	require.ErrorIs(t, err, lake.ErrNotExist, "a failed put leaves no object: %v", err)

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

	t.Run("conditional writes", func(t *testing.T) { conditionalContract(t, st) })
	t.Run("races", func(t *testing.T) {
		r := race(t, st, "race/", 16, raceIncrements(st))
		r.require(t)
		t.Logf("%d writers, %d increments: %d lost races re-read and retried", r.writers, r.wantCount, r.lostRaces)
	})
}

// conditionalContract is what Create, Replace and GetVersion promise: a
// write happens only when the key is as the writer last saw it.
func conditionalContract(t *testing.T, st lake.Store) {
	t.Helper()
	ctx := context.Background()
	const key = "cond/schema.json"
	read := func() (string, lake.Version) {
		t.Helper()
		raw, v, err := st.GetVersion(ctx, key)
		require.NoError(t, err)
		require.NotEmpty(t, v)
		return string(raw), v
	}
	failed := func(err error, what string) {
		t.Helper()
		require.Error(t, err, what)
		require.ErrorIs(t, err, lake.ErrPreconditionFailed, "%s: want ErrPreconditionFailed, got %v", what, err)
	}

	_, _, err := st.GetVersion(ctx, key)
	require.ErrorIs(t, err, lake.ErrNotExist, "get version of a missing key: %v", err)
	_, err = st.Replace(ctx, key, []byte("x"), "some-version")
	failed(err, "replace of a key that never existed")
	_, err = st.Stat(ctx, key)
	require.ErrorIs(t, err, lake.ErrNotExist, "a failed replace creates nothing: %v", err)

	// Create on a new key succeeds; GetVersion returns what was written.
	v1, err := st.Create(ctx, key, []byte("one"))
	require.NoError(t, err)
	require.NotEmpty(t, v1)
	body, v := read()
	require.Equal(t, "one", body)
	require.Equal(t, v1, v, "GetVersion gives the version Create returned")

	// Create on an existing key fails and changes nothing.
	_, err = st.Create(ctx, key, []byte("other"))
	failed(err, "create of an existing key")
	body, v = read()
	require.Equal(t, "one", body)
	require.Equal(t, v1, v)

	// Replace with the current version succeeds with a new version.
	v2, err := st.Replace(ctx, key, []byte("two"), v1)
	require.NoError(t, err)
	require.NotEqual(t, v1, v2)
	body, v = read()
	require.Equal(t, "two", body)
	require.Equal(t, v2, v)

	// Replace with a stale version fails and changes nothing.
	_, err = st.Replace(ctx, key, []byte("three"), v1)
	failed(err, "replace with a stale version")
	body, v = read()
	require.Equal(t, "two", body)
	require.Equal(t, v2, v)

	// An unconditional Put is a change too: what was read before is stale.
	require.NoError(t, st.Put(ctx, key, strings.NewReader("four"), 4))
	body, v4 := read()
	require.Equal(t, "four", body)
	require.NotEqual(t, v2, v4)
	_, err = st.Replace(ctx, key, []byte("five"), v2)
	failed(err, "replace after a put")

	// A deleted key: Replace fails (it never resurrects), Create succeeds.
	require.NoError(t, st.Delete(ctx, key))
	_, err = st.Replace(ctx, key, []byte("six"), v4)
	failed(err, "replace of a deleted key")
	_, err = st.Stat(ctx, key)
	require.ErrorIs(t, err, lake.ErrNotExist, "a failed replace creates nothing: %v", err)
	v7, err := st.Create(ctx, key, []byte("seven"))
	require.NoError(t, err)
	body, v = read()
	require.Equal(t, "seven", body)
	require.Equal(t, v7, v)

	// Conditionally written objects are ordinary objects to the rest.
	o, err := st.Stat(ctx, key)
	require.NoError(t, err)
	require.EqualValues(t, 5, o.Size)
	require.Equal(t, "seven", string(mustRead(t, st, key)))
	objs, err := st.List(ctx, "cond/")
	require.NoError(t, err)
	require.Len(t, objs, 1, "no temporary or lock files listed: %v", objs)
	require.Equal(t, key, objs[0].Key)

	// Empty objects and bad keys.
	ve, err := st.Create(ctx, "cond/empty", nil)
	require.NoError(t, err)
	raw, v, err := st.GetVersion(ctx, "cond/empty")
	require.NoError(t, err)
	require.Empty(t, raw)
	require.Equal(t, ve, v)
	for _, bad := range []string{"", "/abs", "../x", "a/../../x"} {
		_, err := st.Create(ctx, bad, []byte("x"))
		require.Error(t, err, "key %q", bad)
		require.NotErrorIs(t, err, lake.ErrPreconditionFailed, "a bad key is not a lost race")
		_, err = st.Replace(ctx, bad, []byte("x"), v)
		require.Error(t, err, "key %q", bad)
		_, _, err = st.GetVersion(ctx, bad)
		require.Error(t, err, "key %q", bad)
	}
}

func mustRead(t *testing.T, st lake.Store, key string) []byte {
	t.Helper()
	raw, err := lake.ReadAll(context.Background(), st, key)
	require.NoError(t, err)
	return raw
}

// raceResult is what racing writers achieved.
type raceResult struct {
	writers    int
	winners    int   // of the writers that all created one key
	wantCount  int   // increments made
	finalCount int   // the counter at the end
	duplicates int   // counter values two writers both committed
	lostRaces  int64 // Replace calls that lost and were retried
}

func (r raceResult) require(t *testing.T) {
	t.Helper()
	require.Equal(t, 1, r.winners, "exactly one of %d writers creates the key", r.writers)
	require.Zero(t, r.duplicates, "no two writers committed the same counter value")
	require.Equal(t, r.wantCount, r.finalCount, "no lost update")
}

// raceIncrements is how many times each writer increments the counter:
// fewer over a network.
func raceIncrements(st lake.Store) int {
	if _, ok := st.(*lake.Local); ok {
		return 25
	}
	return 8
}

// race runs writers goroutines at once: first all Create one key (exactly
// one may win), then each increments a counter object perIncrements
// times, by read, +1, Replace, re-reading when it loses.
func race(t *testing.T, st lake.Store, prefix string, writers, increments int) raceResult {
	t.Helper()
	return raceEach(t, func(int) lake.Store { return st }, prefix, writers, increments)
}

// raceEach is race with a store of its own for each writer (as separate
// processes have).
func raceEach(t *testing.T, storeOf func(writer int) lake.Store, prefix string, writers, increments int) raceResult {
	t.Helper()
	ctx := context.Background()
	st := storeOf(0)
	res := raceResult{writers: writers, wantCount: writers * increments}

	var start, done sync.WaitGroup
	start.Add(1)
	var winners atomic.Int32
	for i := range writers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			_, err := storeOf(i).Create(ctx, prefix+"once", []byte(fmt.Sprintf("writer %d", i)))
			switch {
			case err == nil:
				winners.Add(1)
			case !errors.Is(err, lake.ErrPreconditionFailed):
				t.Errorf("create by writer %d: %v", i, err)
			}
		}()
	}
	start.Done()
	done.Wait()
	res.winners = int(winners.Load())

	counter := prefix + "counter"
	_, err := st.Create(ctx, counter, []byte("0"))
	require.NoError(t, err)
	var lost atomic.Int64
	var mu sync.Mutex
	committed := map[int]int{} // counter value -> writers that committed it
	start.Add(1)
	for i := range writers {
		done.Add(1)
		go func() {
			defer done.Done()
			st := storeOf(i)
			start.Wait()
			for range increments {
				for attempt := 0; ; attempt++ {
					if attempt > 100*writers {
						t.Errorf("writer %d: no increment after %d attempts", i, attempt)
						return
					}
					raw, v, err := st.GetVersion(ctx, counter)
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
						return
					}
					n, err := strconv.Atoi(string(raw))
					if err != nil {
						t.Errorf("writer %d: counter %q: %v", i, raw, err)
						return
					}
					_, err = st.Replace(ctx, counter, []byte(strconv.Itoa(n+1)), v)
					if errors.Is(err, lake.ErrPreconditionFailed) {
						lost.Add(1)
						continue
					}
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
						return
					}
					mu.Lock()
					committed[n+1]++
					mu.Unlock()
					break
				}
			}
		}()
	}
	start.Done()
	done.Wait()
	raw, _, err := st.GetVersion(ctx, counter)
	require.NoError(t, err)
	res.finalCount, err = strconv.Atoi(string(raw))
	require.NoError(t, err)
	for _, n := range committed {
		res.duplicates += n - 1
	}
	res.lostRaces = lost.Load()
	return res
}

// unconditional is a store whose Create and Replace forgot their
// condition: plain Puts. The race test must catch it.
type unconditional struct{ lake.Store }

func (u unconditional) Create(ctx context.Context, key string, data []byte) (lake.Version, error) {
	return u.Replace(ctx, key, data, "")
}

func (u unconditional) Replace(ctx context.Context, key string, data []byte, _ lake.Version) (lake.Version, error) {
	if err := u.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", err
	}
	_, v, err := u.GetVersion(ctx, key)
	return v, err
}

func TestRaceTestCatchesUnconditionalWrites(t *testing.T) {
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	r := race(t, unconditional{st}, "race/", 16, 25)
	t.Logf("without conditions: %d of %d writers created the same key; counter %d of %d increments (%d committed twice)",
		r.winners, r.writers, r.finalCount, r.wantCount, r.duplicates)
	require.Equal(t, 16, r.winners, "every plain put 'wins'")
}

func TestLocalStoreContract(t *testing.T) {
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	storeContract(t, st)
}

// Each writer with a Local of its own: their locks meet only in the
// kernel (flock), as those of separate processes do.
func TestLocalRaceBetweenStores(t *testing.T) {
	dir := t.TempDir()
	stores := make([]lake.Store, 16)
	for i := range stores {
		st, err := lake.NewLocal(dir)
		require.NoError(t, err)
		stores[i] = st
	}
	r := raceEach(t, func(i int) lake.Store { return stores[i] }, "race/", 16, 25)
	r.require(t)
	t.Logf("16 stores, %d increments: %d lost races re-read and retried", r.wantCount, r.lostRaces)
}

// Separate processes on one lake directory: the test binary runs itself.
func TestLocalRaceBetweenProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	st, err := lake.NewLocal(dir)
	require.NoError(t, err)
	_, err = st.Create(context.Background(), "race/counter", []byte("0"))
	require.NoError(t, err)
	const procs, increments = 4, 50
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLocalRaceHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SILT_LAKE_RACE_DIR="+dir, fmt.Sprintf("SILT_LAKE_RACE_INCREMENTS=%d", increments))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	won := 0
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), outs[i].String())
		if strings.Contains(outs[i].String(), "created the key") {
			won++
		}
	}
	require.Equal(t, 1, won, "exactly one process creates the key")
	raw, _, err := st.GetVersion(context.Background(), "race/counter")
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(procs*increments), string(raw), "no lost update between processes")
}

// TestLocalRaceHelperProcess is one process of TestLocalRaceBetweenProcesses.
func TestLocalRaceHelperProcess(t *testing.T) {
	dir := os.Getenv("SILT_LAKE_RACE_DIR")
	if dir == "" {
		t.Skip("run by TestLocalRaceBetweenProcesses")
	}
	ctx := context.Background()
	st, err := lake.NewLocal(dir)
	require.NoError(t, err)
	n, err := strconv.Atoi(os.Getenv("SILT_LAKE_RACE_INCREMENTS"))
	require.NoError(t, err)
	if _, err := st.Create(ctx, "race/once", []byte(strconv.Itoa(os.Getpid()))); err == nil {
		fmt.Println("created the key")
	} else {
		require.ErrorIs(t, err, lake.ErrPreconditionFailed)
	}
	for range n {
		for {
			raw, v, err := st.GetVersion(ctx, "race/counter")
			require.NoError(t, err)
			c, err := strconv.Atoi(string(raw))
			require.NoError(t, err)
			if _, err := st.Replace(ctx, "race/counter", []byte(strconv.Itoa(c+1)), v); err == nil {
				break
			} else {
				require.ErrorIs(t, err, lake.ErrPreconditionFailed)
			}
		}
	}
}
