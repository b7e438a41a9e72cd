package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgressLineFormat(t *testing.T) {
	require.Equal(t, "register:    4.0s  100 of 500 partitions (20%)  tables 1 of 4  rate 25.0/s  ETA 16s",
		progressLine("register", "partitions", 4*time.Second, 100, 500, "tables 1 of 4"))
	require.Equal(t, "register:    0.0s  0 of 3 partitions (0%)  rate 0.0/s  ETA unknown",
		progressLine("register", "partitions", 0, 0, 3, ""))
	require.Equal(t, "register:    2.0s  3 of 3 partitions (100%)  rate 1.5/s",
		progressLine("register", "partitions", 2*time.Second, 3, 3, ""))
	require.Equal(t, "compact:    2.0s  3 partitions  rate 1.5/s",
		progressLine("compact", "partitions", 2*time.Second, 3, 0, ""))
}

// At most a line a second by the injected clock, the final one always,
// and the last line reaches the total.
func TestProgressPrinterOncePerSecond(t *testing.T) {
	var out strings.Builder
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	p := newProgress(&out, "register", "partitions", func() time.Time { return now })
	for done := int64(0); done <= 10; done++ {
		p.update(done, 10, "", done == 10)
		now = now.Add(300 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	// Updates at 0, 0.3, …, 3.0 s: lines at 0, 1.2, 2.4 s and the final 3.0 s.
	require.Equal(t, []string{
		"register:    0.0s  0 of 10 partitions (0%)  rate 0.0/s  ETA unknown",
		"register:    1.2s  4 of 10 partitions (40%)  rate 3.3/s  ETA 2s",
		"register:    2.4s  8 of 10 partitions (80%)  rate 3.3/s  ETA 1s",
		"register:    3.0s  10 of 10 partitions (100%)  rate 3.3/s",
	}, lines)

	var none *progressPrinter
	none.update(1, 2, "", true) // no printer: nothing, no panic
	newProgress(nil, "x", "y", time.Now).update(1, 2, "", true)
}
