package scheduler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// Several processes on one lake record runs of the same job (ingest runs
// on each) at once: every run of every process is in the history after,
// and each process's view holds the others' runs too.
func TestHistoryOfProcessesSharingALakeLosesNoRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const procs, runs = 8, 10
	hists := make([]*History, procs)
	for i := range hists {
		st, err := lake.NewLocal(dir) // a store each, as separate processes
		require.NoError(t, err)
		hists[i], err = OpenHistory(ctx, st, 0)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for i, h := range hists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range runs {
				at := t0.Add(time.Duration(n)*time.Minute + time.Duration(i)*time.Second)
				if err := h.Record(ctx, Run{Job: "ingest", Scheduled: at, Start: at, End: at.Add(time.Second), Status: StatusOK,
					Counts: map[string]int64{"process": int64(i), "run": int64(n)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	st, err := lake.NewLocal(dir)
	require.NoError(t, err)
	all, err := OpenHistory(ctx, st, 0)
	require.NoError(t, err)
	got := map[string]bool{}
	for _, r := range all.Last("ingest", 1000) {
		got[fmt.Sprintf("%d/%d", r.Counts["process"], r.Counts["run"])] = true
	}
	require.Len(t, got, procs*runs, "every process's every run")
	// The last process to write saw everyone's runs.
	most := 0
	for _, h := range hists {
		most = max(most, len(h.Last("ingest", 1000)))
	}
	require.Equal(t, procs*runs, most)
}
