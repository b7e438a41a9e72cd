package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A panic on silt's main goroutine prints its value and stack scrubbed of
// the configured secrets, and exits 2 like Go's own panic. The panicking
// command runs in a child process (the recover exits it).
func TestPanicMessageIsScrubbedOfSecrets(t *testing.T) {
	const secret = "pw-PANIC-4242"
	if os.Getenv("SILT_TEST_PANIC") == "1" {
		register(&command{name: "panic-now", run: func(context.Context, []string) error {
			redactOutput = func(s string) string { return strings.ReplaceAll(s, secret, "<redacted>") }
			panic("login with " + secret + " failed")
		}})
		os.Exit(run([]string{"panic-now"}))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicMessageIsScrubbedOfSecrets$")
	cmd.Env = append(os.Environ(), "SILT_TEST_PANIC=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must exit non-zero: %v\n%s", err, out)
	require.Equal(t, 2, exit.ExitCode(), "%s", out)
	require.Contains(t, string(out), "panic: login with <redacted> failed")
	require.Contains(t, string(out), "goroutine", "the stack is printed")
	require.NotContains(t, string(out), secret)
}
