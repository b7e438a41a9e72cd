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
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/silt-etl/silt/internal/stack"
)

var (
	once  sync.Once
	mu    sync.Mutex
	owned *stack.Stack // started by this binary; Main stops it
	ep    *stack.Endpoints
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

// Get returns the endpoints of a running stack, starting one if needed.
func Get(t testing.TB) *stack.Endpoints {
	t.Helper()
	if os.Getenv("SILT_SKIP_INTEGRATION") == "1" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SILT_SKIP_INTEGRATION=1 is not allowed with CI=true: integration tests must run in CI")
		}
		t.Skip("SKIPPING INTEGRATION TEST: SILT_SKIP_INTEGRATION=1 (no real MinIO, Kafka or Trino was used)")
	}
	once.Do(func() { ep, upErr = get() })
	if upErr != nil {
		// Under CI and locally alike this fails: a broken stack is a broken build.
		t.Fatalf("integration stack unavailable: %v\n(set SILT_SKIP_INTEGRATION=1 to skip locally)", upErr)
	}
	e := *ep
	return &e
}

func get() (*stack.Endpoints, error) {
	if path := os.Getenv("SILT_STACK_STATE"); path != "" {
		s, err := stack.Attach(path)
		if err == nil {
			err = s.Healthy(context.Background())
		}
		if err == nil {
			return s.Endpoints(), nil
		}
		fmt.Fprintf(os.Stderr, "stacktest: SILT_STACK_STATE=%s is not a running stack (%v); starting one for this test binary\n", path, err)
	}
	// Cold starts download and build; warm starts take well under a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := stack.Up(ctx, stack.Options{Progress: os.Stderr, Metastore: os.Getenv("SILT_STACK_METASTORE") == "1"})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "stacktest: stack started in %s\n", time.Since(start).Round(time.Second))
	mu.Lock()
	owned = s
	mu.Unlock()
	return s.Endpoints(), nil
}
