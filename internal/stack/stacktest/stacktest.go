// Package stacktest gives integration tests the real MinIO, Kafka and Trino.
//
//	func TestMain(m *testing.M) { stacktest.Main(m) }
//
//	func TestSomethingIntegration(t *testing.T) {
//		ep := stacktest.Get(t)
//		...
//	}
//
// With SILT_STACK_STATE naming the state file of a running stack (make test
// starts one with `silt stack up`), tests attach to it. Otherwise the first
// Get starts a stack for this test binary, and Main stops it when the tests
// are done, whatever their outcome. With CI=true a stack that cannot be
// installed or started fails the test; locally SILT_SKIP_INTEGRATION=1
// skips instead, loudly. SILT_STACK_METASTORE=1 adds the standalone Hive
// Metastore to a stack started here.
package stacktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/silt-etl/silt/internal/stack"
)

var (
	once  sync.Once
	mu    sync.Mutex
	owned *stack.Stack // started by this binary; Main stops it
	cur   *stack.Stack // the stack tests use, owned or attached
	upErr error
)

// Main runs the tests and then stops a stack this binary started. A test
// binary that dies without reaching the end (panic, -timeout) leaks no
// process either: the kernel kills services started without Detach.
func Main(m *testing.M) {
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stacktest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func stop() error {
	mu.Lock()
	s := owned
	owned = nil
	mu.Unlock()
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.Down(ctx)
}

// Action is what an integration test does about the stack it needs.
type Action int

const (
	Run  Action = iota
	Skip        // locally, with SILT_SKIP_INTEGRATION=1; loudly
	Fail
)

func (a Action) String() string { return [...]string{"run", "skip", "fail"}[a] }

// isCI reports CI=true (or 1, or any other true value strconv accepts).
func isCI(getenv func(string) string) bool {
	ci, _ := strconv.ParseBool(getenv("CI"))
	return ci
}

// Decide is the policy, from the environment and the error of getting a
// stack (nil if it worked or was not tried yet): SILT_SKIP_INTEGRATION=1
// skips locally but fails under CI, and a stack that cannot be had fails,
// under CI and locally alike: a broken stack is a broken build.
func Decide(getenv func(string) string, stackErr error) (Action, string) {
	ci := isCI(getenv)
	if getenv("SILT_SKIP_INTEGRATION") == "1" {
		if ci {
			return Fail, "SILT_SKIP_INTEGRATION=1 is not allowed with CI=true: integration tests must run in CI"
		}
		return Skip, "SKIPPING INTEGRATION TEST: SILT_SKIP_INTEGRATION=1 (no real MinIO, Kafka or Trino was used)"
	}
	if stackErr != nil {
		msg := fmt.Sprintf("integration stack unavailable: %v", stackErr)
		if !ci {
			msg += "\n(set SILT_SKIP_INTEGRATION=1 to skip locally)"
		}
		return Fail, msg
	}
	return Run, ""
}

// DecideMissing is the policy for a service the running stack lacks (the
// optional metastore): a failure under CI, where make test starts every
// service, and a loud skip locally.
func DecideMissing(getenv func(string) string, reason string) (Action, string) {
	if isCI(getenv) {
		return Fail, "CI=true, and " + reason
	}
	return Skip, "SKIPPING: " + reason
}

// apply carries out a decision on t; it reports whether the test runs on
// (a real t never returns from Fatal or Skip).
func apply(t testing.TB, a Action, msg string) bool {
	t.Helper()
	switch a {
	case Fail:
		t.Fatal(msg)
	case Skip:
		t.Skip(msg)
	default:
		return true
	}
	return false
}

// Missing ends a test that needs a service the stack does not run:
// failed under CI, skipped locally. reason says what is missing and how
// to start it.
func Missing(t testing.TB, reason string) {
	t.Helper()
	a, msg := DecideMissing(os.Getenv, reason)
	apply(t, a, msg)
}

// CheckEnv applies the policy for a test that starts services of its own
// rather than use the shared stack: it skips or fails t as SILT_SKIP_INTEGRATION
// and CI say.
func CheckEnv(t testing.TB) {
	t.Helper()
	a, msg := Decide(os.Getenv, nil)
	apply(t, a, msg)
}

// Get returns the endpoints of a running stack, starting one if needed.
func Get(t testing.TB) *stack.Endpoints {
	t.Helper()
	s := current(t)
	if s == nil {
		return nil
	}
	return s.Endpoints()
}

// State is the running stack's state: its processes, run directory and
// endpoints, whether this binary started it or attached to it.
func State(t testing.TB) stack.State {
	t.Helper()
	s := current(t)
	if s == nil {
		return stack.State{}
	}
	return s.State()
}

func current(t testing.TB) *stack.Stack {
	t.Helper()
	return resolve(t, os.Getenv, func() (*stack.Stack, error) {
		once.Do(func() {
			var own bool
			cur, own, upErr = open(os.Getenv, up)
			if own {
				mu.Lock()
				owned = cur
				mu.Unlock()
			}
		})
		return cur, upErr
	})
}

// resolve applies the policy around getting a stack with get, which it
// does not call when the test is not to run at all.
func resolve(t testing.TB, getenv func(string) string, get func() (*stack.Stack, error)) *stack.Stack {
	t.Helper()
	if a, msg := Decide(getenv, nil); !apply(t, a, msg) {
		return nil
	}
	s, err := get()
	if a, msg := Decide(getenv, err); !apply(t, a, msg) {
		return nil
	}
	return s
}

// open attaches to the stack SILT_STACK_STATE names or, if that is not a
// healthy stack, starts one with up (owned is then true).
func open(getenv func(string) string, up func() (*stack.Stack, error)) (s *stack.Stack, owned bool, err error) {
	var attachErr error
	if path := getenv("SILT_STACK_STATE"); path != "" {
		s, err := stack.Attach(path)
		if err == nil {
			err = s.Healthy(context.Background())
		}
		if err == nil {
			return s, false, nil
		}
		attachErr = fmt.Errorf("SILT_STACK_STATE=%s is not a running stack: %w", path, err)
		fmt.Fprintf(os.Stderr, "stacktest: %v; starting one for this test binary\n", attachErr)
	}
	s, err = up()
	if err != nil {
		return nil, false, errors.Join(attachErr, err)
	}
	return s, true, nil
}

// up starts a stack for this test binary. Cold starts download and build;
// warm starts take well under a minute.
func up() (*stack.Stack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := stack.Up(ctx, stack.Options{Progress: os.Stderr, Metastore: os.Getenv("SILT_STACK_METASTORE") == "1"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "stacktest: stack started in %s\n", time.Since(start).Round(time.Second))
	return s, nil
}
