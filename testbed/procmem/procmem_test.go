package procmem

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStatus(t *testing.T) {
	text := "Name:\tsilt\nVmPeak:\t 3000000 kB\nVmHWM:\t  330000 kB\nVmRSS:\t  320000 kB\nRssAnon:\t  250000 kB\nRssFile:\t   70000 kB\nRssShmem:\t       0 kB\nThreads:\t12\n"
	p, err := parseStatus(text)
	require.NoError(t, err)
	require.Equal(t, Peak{RSS: 330000 << 10, Anon: 250000 << 10, File: 70000 << 10}, p)

	_, err = parseStatus("Name:\tsilt\nVmHWM:\t  330000 kB\n")
	require.ErrorContains(t, err, "has 1 of")
}

// TestWatch watches a real process (this test binary's own sleep child)
// and requires a peak that holds at least the file pages of its binary.
func TestWatch(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	cmd := exec.Command(sleep, "0.3")
	require.NoError(t, cmd.Start())
	peak := make(chan Peak, 1)
	go func() { peak <- Watch(cmd.Process.Pid) }()
	require.NoError(t, cmd.Wait())
	p := <-peak
	require.Positive(t, p.RSS)
	require.Positive(t, p.File, "sleep's own pages")
	require.LessOrEqual(t, p.File, p.RSS+int64(os.Getpagesize()))
}
