package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Progress lines go to a terminal; a pipe or a file (a CI log) is not one.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer func() { _ = r.Close(); _ = w.Close() }()
	require.False(t, isTerminal(w))
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	require.False(t, isTerminal(f))
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err == nil { // only where the test has a controlling terminal
		defer func() { _ = tty.Close() }()
		require.True(t, isTerminal(tty))
	}
}
