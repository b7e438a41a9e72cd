//go:build integration

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// checkExactlyOnce downloads the world's lake and checks that it holds
// every produced event exactly once, in the right tables.
func (w *world) checkExactlyOnce(t *testing.T, n int64, counts map[string]int64) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, lakecheck.Download(context.Background(), w.store, "", dir))
	rep, err := lakecheck.Check(context.Background(), dir)
	require.NoError(t, err)
	t.Logf("lake: %d rows in %d files, %d distinct offsets", rep.Total, rep.Files, rep.Distinct)
	if rep.Distinct != n || rep.Duplicates != 0 {
		w.explainGaps(t, dir)
	}
	require.Zero(t, rep.Duplicates, "rows with a (topic, partition, offset) seen before")
	require.Equal(t, n, rep.Distinct, "distinct offsets")
	require.Equal(t, n, rep.Total, "rows")
	for typ, c := range counts {
		require.Equal(t, c, rep.Rows[typ], "rows of %s", typ)
	}
	require.Equal(t, map[string]bool{"SNAPPY": true}, rep.Codecs)
}

// explainGaps logs the missing offset ranges per partition and the
// manifests, to make a failure of the exactly-once checks debuggable.
func (w *world) explainGaps(t *testing.T, dir string) {
	t.Helper()
	q := fmt.Sprintf(`WITH o AS (SELECT DISTINCT kafka_partition p, kafka_offset o FROM read_parquet('%s/*/*/*/*.parquet', union_by_name=true)),
		g AS (SELECT p, o, lag(o) OVER (PARTITION BY p ORDER BY o) prev FROM o)
		SELECT p, prev + 1, o - 1 FROM g WHERE o - prev > 1 ORDER BY p, o`, dir)
	_ = lakecheck.Query(context.Background(), q, func(r *sql.Rows) error {
		var p, from, to int64
		if err := r.Scan(&p, &from, &to); err != nil {
			return err
		}
		t.Logf("gap: partition %d offsets %d..%d", p, from, to)
		return nil
	})
	objs, _ := w.store.List(context.Background(), "_silt/batches/")
	for _, o := range objs {
		raw, _ := lake.ReadAll(context.Background(), w.store, o.Key)
		t.Logf("manifest %s: %.300s", o.Key, raw)
	}
}

func TestE2EKillNineRecoveryExactlyOnce(t *testing.T) {
	// The topic is topped up whenever the backlog runs low, so that ten
	// kills land mid-batch however fast the machine drains it.
	const chunk, lowWater, wantKills = 80_000, 80_000, 10
	w := newWorld(t, 4,
		// Small batches and files: more commit points for the kills to hit.
		"SILT_INGEST_MAX_RECORDS=8000", "SILT_INGEST_TARGET_FILE_BYTES=1MB",
		// One process at a time: a restart takes the partitions back at once.
		"SILT_KAFKA_INSTANCE_ID=crash-test")
	var n int64
	counts := map[string]int64{}
	topUp := func() {
		for typ, c := range w.produce(t, chunk, uint64(7+n)) {
			counts[typ] += c
		}
		n += chunk
	}
	topUp()
	topUp()

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for runs := 0; kills < wantKills && runs < 4*wantKills; runs++ {
		if w.groupLag(t) < lowWater {
			topUp()
		}
		p := w.start(t, "ingest", "--config", w.config, "--no-register")
		wait := time.Duration(200+rng.IntN(900)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			// It caught up before the kill: nothing left to interrupt.
			require.NoError(t, err, p.output())
			t.Logf("run finished before its kill at %s", wait)
		case <-time.After(wait):
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
			waited := <-done // "signal: killed", or an exit just before it
			kills++
			t.Logf("kill %d after %s (%v), lag %d", kills, wait, waited, w.groupLag(t))
		}
	}
	require.Equal(t, wantKills, kills, "runs kept finishing before their kill")

	final := w.start(t, "ingest", "--config", w.config, "--no-register")
	require.NoError(t, final.cmd.Wait(), final.output())
	require.Zero(t, w.groupLag(t))
	t.Logf("%d events produced in %d chunks", n, n/chunk)
	w.checkExactlyOnce(t, n, counts)
}

func TestE2ERebalanceBetweenIngestersExactlyOnce(t *testing.T) {
	const n = 120_000
	w := newWorld(t, 6, "SILT_INGEST_MAX_RECORDS=12000", "SILT_INGEST_TARGET_FILE_BYTES=1MB")
	counts := w.produce(t, n, 11)

	a := w.start(t, "ingest", "--config", w.config, "--no-register", "--follow", "--interval", "500ms")
	b := w.start(t, "ingest", "--config", w.config, "--no-register", "--follow", "--interval", "500ms")
	time.Sleep(2 * time.Second)
	// c joining makes live members give up partitions mid-stream.
	c := w.start(t, "ingest", "--config", w.config, "--no-register", "--follow", "--interval", "500ms")
	time.Sleep(2 * time.Second)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	_ = a.cmd.Wait()

	// b and c take over a's partitions once its session times out,
	// replaying whatever a had pinned.
	deadline := time.Now().Add(3 * time.Minute)
	for lag, last := w.groupLag(t), time.Now(); lag > 0; lag = w.groupLag(t) {
		require.True(t, time.Now().Before(deadline), "b and c did not drain the topic:\n%s\n%s", b.output(), c.output())
		if time.Since(last) > 5*time.Second {
			t.Logf("lag %d", lag)
			last = time.Now()
		}
		time.Sleep(time.Second)
	}
	t.Logf("drained")
	for _, p := range []*proc{b, c} {
		start := time.Now()
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, p.cmd.Wait(), "graceful stop:\n%s", p.output())
		t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
		if time.Since(start) > 10*time.Second {
			t.Logf("slow stop:\n%s", p.output())
		}
	}
	w.checkExactlyOnce(t, n, counts)
}
