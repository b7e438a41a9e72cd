// Package siltrun runs `silt run` as a user does, in a directory with a
// config file, for the end-to-end tests of cmd/silt and of examples/: it
// captures the output, finds the status page and collector addresses in
// it, and stops the process with SIGTERM, requiring a clean exit.
package siltrun

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/stacktest"
)

// Daemon is a running `silt run` (or another long-running silt command,
// such as `silt ship`: StartCommand).
type Daemon struct {
	sub  string // the silt command: run, ship
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

// Env is the test process's environment without any SILT_ variable (so
// the config file alone decides), plus extra.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SILT_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Start runs `silt run args...` in dir with env; the process is killed at
// the end of the test unless Stop ended it.
func Start(t *testing.T, dir string, env []string, args ...string) *Daemon {
	t.Helper()
	return StartCommand(t, dir, env, "run", args...)
}

// StartCommand runs `silt sub args...` as Start runs `silt run`.
func StartCommand(t *testing.T, dir string, env []string, sub string, args ...string) *Daemon {
	t.Helper()
	d := &Daemon{sub: sub, done: make(chan error, 1)}
	d.cmd = exec.Command(stacktest.SiltBin(t), append([]string{sub}, args...)...)
	d.cmd.Dir = dir
	d.cmd.Env = env
	d.cmd.Stdout = d
	d.cmd.Stderr = d
	require.NoError(t, d.cmd.Start())
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			t.Logf("silt %s stopped at cleanup: %v\n%s", d.sub, <-d.done, d.Output())
		}
	})
	return d
}

func (d *Daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

// Output is everything the process printed so far.
func (d *Daemon) Output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// WaitFor polls cond until it holds; the bound only keeps a broken build
// from hanging, it is not what a test measures.
func (d *Daemon) WaitFor(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if exited, err := d.Exited(); exited {
			t.Fatalf("silt %s exited (%v) before %s:\n%s", d.sub, err, what, d.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s:\n%s", what, bound, d.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitForLine waits until a line of the output matches re. A run's status
// line is printed after the run is recorded, which is after its own
// writes (a report's latest.csv) land: a test that has seen those must
// still wait for the line, not require it at once.
func (d *Daemon) WaitForLine(t *testing.T, re *regexp.Regexp, bound time.Duration) {
	t.Helper()
	d.WaitFor(t, "a line matching "+re.String(), bound, func() bool { return re.MatchString(d.Output()) })
}

var (
	statusURL  = regexp.MustCompile(`status page (http://[0-9.:]+/)`)
	collectURL = regexp.MustCompile(`collector (http://[0-9.:]+)/`)
	ingestOK   = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d ingest +ok `)
)

// StatusURL is the status page's address, ending in '/'.
func (d *Daemon) StatusURL(t *testing.T) string {
	t.Helper()
	d.WaitFor(t, "status page URL", time.Minute, func() bool { return statusURL.MatchString(d.Output()) })
	return statusURL.FindStringSubmatch(d.Output())[1]
}

// CollectorURL is the collector's base address, without a trailing '/'.
func (d *Daemon) CollectorURL(t *testing.T) string {
	t.Helper()
	d.WaitFor(t, "collector URL", time.Minute, func() bool { return collectURL.MatchString(d.Output()) })
	return collectURL.FindStringSubmatch(d.Output())[1]
}

// IngestRuns is how many ingest runs ended ok so far.
func (d *Daemon) IngestRuns() int { return len(ingestOK.FindAllString(d.Output(), -1)) }

// WaitIngestRuns waits until n more ingest runs have ended ok: a batch
// that started after the call has then been written and registered.
func (d *Daemon) WaitIngestRuns(t *testing.T, n int) {
	t.Helper()
	from := d.IngestRuns()
	d.WaitFor(t, "more ingest runs", 2*time.Minute, func() bool { return d.IngestRuns() >= from+n })
}

// Signal sends sig to the process.
func (d *Daemon) Signal(sig os.Signal) error { return d.cmd.Process.Signal(sig) }

// Wait blocks until the process exits and returns how it ended; it can be
// called again, and Exited still reports the exit afterwards.
func (d *Daemon) Wait() error {
	err := <-d.done
	d.done <- err
	return err
}

// Exited reports, without waiting, whether the process has exited and how.
func (d *Daemon) Exited() (exited bool, err error) {
	select {
	case err := <-d.done:
		d.done <- err
		return true, err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and requires a clean exit with code 0.
func (d *Daemon) Stop(t *testing.T) {
	t.Helper()
	require.NoError(t, d.Signal(syscall.SIGTERM))
	err := d.Wait()
	require.NoError(t, err, "silt %s did not exit 0 on SIGTERM:\n%s", d.sub, d.Output())
	require.Contains(t, d.Output(), "silt "+d.sub+": stopped")
}

// Do sends one request and returns the status and body.
func Do(t *testing.T, method, url, contentType, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
