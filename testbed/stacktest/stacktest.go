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
// Metastore to a stack started here, plain or secure.
//
// Secure (and SecureState) do the same for the secured stack (silt stack
// up --secure: TLS, SASL, mTLS, passwords), named by SILT_SECURE_STACK_STATE
// or started for this test binary, with the same policy:
//
//	func TestSomethingSecureIntegration(t *testing.T) {
//		ep := stacktest.Secure(t)
//		...
//	}
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

// kind is one stack the tests of a binary share: the plain or the secure.
type kind struct {
	// env names the state file of a running stack of this kind.
	env    string
	secure bool

	once  sync.Once
	mu    sync.Mutex
	owned *stack.Stack // started by this binary; Main stops it
	cur   *stack.Stack // the stack tests use, owned or attached
	upErr error
}

var (
	plain  = &kind{env: "SILT_STACK_STATE"}
	secure = &kind{env: "SILT_SECURE_STACK_STATE", secure: true}
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

// stop stops the stacks this binary started, the plain and the secure.
func stop() error {
	var errs []error
	for _, k := range []*kind{plain, secure} {
		k.mu.Lock()
		s := k.owned
		k.owned = nil
		k.mu.Unlock()
		if s == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		errs = append(errs, s.Down(ctx))
		cancel()
	}
	return errors.Join(errs...)
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
	s := plain.current(t)
	if s == nil {
		return nil
	}
	return s.Endpoints()
}

// State is the running stack's state: its processes, run directory and
// endpoints, whether this binary started it or attached to it.
func State(t testing.TB) stack.State {
	t.Helper()
	s := plain.current(t)
	if s == nil {
		return stack.State{}
	}
	return s.State()
}

// Stack is the running plain stack itself, for tests that stop and start
// its services (StopService, StartService). They must leave every service
// running again: later tests share the stack.
func Stack(t testing.TB) *stack.Stack {
	t.Helper()
	return plain.current(t)
}

// Secure returns the endpoints of a running secure stack (Endpoints.Secure:
// TLS with its CA, SASL and mTLS on Kafka, passwords on Trino), the one
// SILT_SECURE_STACK_STATE names or one started for this test binary.
func Secure(t testing.TB) *stack.Endpoints {
	t.Helper()
	s := secure.current(t)
	if s == nil {
		return nil
	}
	return s.Endpoints()
}

// SecureState is the running secure stack's state, as State is the plain
// one's.
func SecureState(t testing.TB) stack.State {
	t.Helper()
	s := secure.current(t)
	if s == nil {
		return stack.State{}
	}
	return s.State()
}

func (k *kind) current(t testing.TB) *stack.Stack {
	t.Helper()
	return resolve(t, os.Getenv, func() (*stack.Stack, error) {
		k.once.Do(func() {
			var own bool
			k.cur, own, k.upErr = k.open(os.Getenv, func() (*stack.Stack, error) { return up(k.secure) })
			if own {
				k.mu.Lock()
				k.owned = k.cur
				k.mu.Unlock()
			}
		})
		return k.cur, k.upErr
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

// open attaches to the stack k.env names or, if that is not a healthy
// stack of k's kind, starts one with up (owned is then true).
func (k *kind) open(getenv func(string) string, up func() (*stack.Stack, error)) (s *stack.Stack, owned bool, err error) {
	var attachErr error
	if path := getenv(k.env); path != "" {
		s, err := stack.Attach(path)
		if err == nil && s.Endpoints().Secure != k.secure {
			err = fmt.Errorf("it holds a %s stack", map[bool]string{false: "plain", true: "secure"}[s.Endpoints().Secure])
		}
		if err == nil {
			err = s.Healthy(context.Background())
		}
		if err == nil {
			return s, false, nil
		}
		attachErr = fmt.Errorf("%s=%s is not a running %s stack: %w", k.env, path, map[bool]string{false: "plain", true: "secure"}[k.secure], err)
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
func up(secure bool) (*stack.Stack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	o := stack.Options{Progress: os.Stderr, Secure: secure, Metastore: os.Getenv("SILT_STACK_METASTORE") == "1"}
	s, err := stack.Up(ctx, o)
	if err != nil {
		return nil, err
	}
	what := "stack"
	if secure {
		what = "secure stack"
	}
	fmt.Fprintf(os.Stderr, "stacktest: %s started in %s\n", what, time.Since(start).Round(time.Second))
	return s, nil
}
