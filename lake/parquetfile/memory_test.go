package parquetfile

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

// liveHeap is the bytes of live heap objects: garbage collected first,
// twice, so that sync.Pool's victim cache (the encoding scratch) is gone.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// Memory must count what a writer really holds, or the bound on many open
// writers (ingest.max_buffered_bytes) comes too late: at 10M events silt's
// open files held about 300 MB against an estimate of 192 MB. The heap's
// own count after a collection, before the writer and at checkpoints while
// it writes, is the truth here; the rows mix what silt's files carry:
// repeating strings (dictionary), a column whose dictionary grows large,
// unique strings (PLAIN), numbers, booleans and NULLs.
func TestMemoryTracksHeldBytes(t *testing.T) {
	cols := []lake.Column{
		{Name: "at", Type: lake.TypeTimestamp}, {Name: "host", Type: lake.TypeVarchar},
		{Name: "user_id", Type: lake.TypeVarchar}, {Name: "raw_event", Type: lake.TypeVarchar},
		{Name: "price", Type: lake.TypeDouble}, {Name: "seq", Type: lake.TypeBigint}, {Name: "ok", Type: lake.TypeBoolean},
	}
	for _, tc := range []struct {
		name          string
		rowGroupBytes int64
		columnIndexes bool
	}{
		{"pages held in one row group", 1 << 30, false},
		{"row groups written to the spool", 4 << 20, false},
		{"row groups written to the spool, with column indexes", 4 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := liveHeap()
			w, err := NewWriter(t.TempDir(), cols, Options{Unit: lake.Millis, RowGroupBytes: tc.rowGroupBytes, ColumnIndexes: tc.columnIndexes})
			require.NoError(t, err)
			defer w.Discard()
			rnd := rand.New(rand.NewPCG(1, 2))
			pad := make([]byte, 180)
			for i := range 90_000 {
				for k := range pad { // random, as compressed as real events' unique parts
					pad[k] = 'a' + byte(rnd.IntN(26))
				}
				row := []any{int64(1.7e12) + int64(i), fmt.Sprintf("game-%d.example.com", i%8), fmt.Sprintf("u-%d", rnd.IntN(40_000)),
					fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, i, pad), float64(rnd.IntN(5000)) / 100, int64(i), i%3 == 0}
				if i%11 == 0 {
					row[4], row[6] = nil, nil
				}
				require.NoError(t, w.Write(row, 300))
				if i+1 == 5_000 || (i+1)%30_000 == 0 { // a small file, as an hour's first, and larger ones
					require.NoError(t, w.wait())
					held, counted := liveHeap()-before, w.Memory()
					t.Logf("after %d rows: heap holds %.2f MB for the writer, Memory() says %.2f MB", i+1, float64(held)/1e6, float64(counted)/1e6)
					require.InEpsilon(t, held, counted, 0.10, "after %d rows", i+1)
				}
			}
		})
	}
}
