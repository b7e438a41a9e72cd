package stacktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silt-etl/silt/internal/stack"
)

// fakeTB records what the policy did to a test instead of ending it.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.failed, f.msg = true, fmt.Sprint(args...) }
func (f *fakeTB) Skip(args ...any)  { f.skipped, f.msg = true, fmt.Sprint(args...) }
func (f *fakeTB) outcome() Action {
	switch {
	case f.failed:
		return Fail
	case f.skipped:
		return Skip
	}
	return Run
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// The whole path Get takes (policy, attach, start), with the start stubbed.
func TestPolicy(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	unstartable := errors.New("kafka: no JDK 17+ in JAVA_HOME or /usr/lib/jvm")
	running := &stack.Stack{}
	for _, c := range []struct {
		name    string
		env     map[string]string
		upErr   error
		want    Action
		started bool     // the stack was tried
		says    []string // in the message
		notSays []string
	}{
		{name: "CI, state file missing, stack cannot start: fail with both reasons",
			env:   map[string]string{"CI": "true", "SILT_STACK_STATE": missing},
			upErr: unstartable, want: Fail, started: true,
			says: []string{"missing.json", unstartable.Error()}, notSays: []string{"SILT_SKIP_INTEGRATION"}},
		{name: "CI=1, no state file, stack cannot start: fail",
			env:   map[string]string{"CI": "1"},
			upErr: unstartable, want: Fail, started: true, says: []string{unstartable.Error()}},
		{name: "locally, stack cannot start: fail too, with the hint",
			env:   map[string]string{},
			upErr: unstartable, want: Fail, started: true,
			says: []string{unstartable.Error(), "SILT_SKIP_INTEGRATION=1 to skip locally"}},
		{name: "locally with SILT_SKIP_INTEGRATION=1: loud skip, no stack",
			env:  map[string]string{"SILT_SKIP_INTEGRATION": "1"},
			want: Skip, says: []string{"SKIPPING INTEGRATION TEST"}},
		{name: "CI with SILT_SKIP_INTEGRATION=1: fail, no stack",
			env:  map[string]string{"SILT_SKIP_INTEGRATION": "1", "CI": "true"},
			want: Fail, says: []string{"not allowed with CI=true"}},
		{name: "a stack: run",
			env:  map[string]string{"CI": "true"},
			want: Run, started: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			getenv := env(c.env)
			f := &fakeTB{}
			started := false
			got := resolve(f, getenv, func() (*stack.Stack, error) {
				s, _, err := plain.open(getenv, func() (*stack.Stack, error) {
					started = true
					if c.upErr != nil {
						return nil, c.upErr
					}
					return running, nil
				})
				return s, err
			})
			if f.outcome() != c.want {
				t.Fatalf("policy did %v (%q), want %v", f.outcome(), f.msg, c.want)
			}
			if started != c.started {
				t.Errorf("stack started: %v, want %v", started, c.started)
			}
			if (got == running) != (c.want == Run) {
				t.Errorf("resolve returned %p, want the stack only when the test runs", got)
			}
			for _, s := range c.says {
				if !strings.Contains(f.msg, s) {
					t.Errorf("message %q lacks %q", f.msg, s)
				}
			}
			for _, s := range c.notSays {
				if strings.Contains(f.msg, s) {
					t.Errorf("message %q has %q", f.msg, s)
				}
			}
		})
	}
}

// A service the stack lacks (the metastore) fails CI and skips locally.
func TestMissingService(t *testing.T) {
	reason := "the stack runs no Hive Metastore"
	for _, c := range []struct {
		env  map[string]string
		want Action
	}{
		{map[string]string{"CI": "true"}, Fail},
		{map[string]string{"CI": "false"}, Skip},
		{map[string]string{}, Skip},
	} {
		a, msg := DecideMissing(env(c.env), reason)
		f := &fakeTB{}
		apply(f, a, msg)
		if f.outcome() != c.want || !strings.Contains(f.msg, reason) {
			t.Errorf("env %v: %v %q, want %v with the reason", c.env, f.outcome(), f.msg, c.want)
		}
	}
}

// Secure attaches only to a secure stack: SILT_SECURE_STACK_STATE naming a
// plain stack's state (or SILT_STACK_STATE a secure one's) is not used,
// and a stack of the right kind is started instead.
func TestOpenChecksKind(t *testing.T) {
	dir := t.TempDir()
	plainState := filepath.Join(dir, "plain.json")
	secureState := filepath.Join(dir, "secure.json")
	write := func(path string, secure bool) {
		b, err := json.Marshal(stack.State{Endpoints: stack.Endpoints{Secure: secure}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(plainState, false)
	write(secureState, true)
	started := &stack.Stack{}
	for _, c := range []struct {
		k    *kind
		env  map[string]string
		says string
	}{
		{secure, map[string]string{"SILT_SECURE_STACK_STATE": plainState}, "holds a plain stack"},
		{plain, map[string]string{"SILT_STACK_STATE": secureState}, "holds a secure stack"},
		// The right kind, but no process runs: not healthy.
		{secure, map[string]string{"SILT_SECURE_STACK_STATE": secureState}, "no processes"},
		// The other kind's variable is not looked at.
		{secure, map[string]string{"SILT_STACK_STATE": secureState}, ""},
	} {
		var got error
		s, owned, err := c.k.open(env(c.env), func() (*stack.Stack, error) { return nil, errors.New("cannot start") })
		got = err
		if s != nil || owned {
			t.Errorf("%v: got a stack", c.env)
		}
		if c.says != "" && (got == nil || !strings.Contains(got.Error(), c.says)) {
			t.Errorf("%v: error %v, want it to say %q", c.env, got, c.says)
		}
		if got == nil || !strings.Contains(got.Error(), "cannot start") {
			t.Errorf("%v: error %v, want the start's too", c.env, got)
		}
		s, owned, err = c.k.open(env(c.env), func() (*stack.Stack, error) { return started, nil })
		if err != nil || s != started || !owned {
			t.Errorf("%v: open = %p, %v, %v; want the started stack", c.env, s, owned, err)
		}
	}
}
