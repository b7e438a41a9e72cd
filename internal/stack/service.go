package stack

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"time"
)

// Command is a recorded process start: enough to start the same service
// again on the same ports, data directories and credentials.
type Command struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	// Env is nil when the process inherited the environment of the
	// process that started it.
	Env    []string `json:"env,omitempty"`
	Dir    string   `json:"dir,omitempty"`
	Detach bool     `json:"detach"`
}

// ErrUnknownService is returned for a service name the stack does not run.
var ErrUnknownService = errors.New("no such service in the stack")

// StopService stops one service (SIGTERM, then SIGKILL after grace) and
// leaves the rest running: its data directory stays, so StartService
// brings it back with what it held. Outage tests and drills use it.
func (s *Stack) StopService(ctx context.Context, name string, grace time.Duration) error {
	p, err := s.process(name)
	if err != nil {
		return err
	}
	return p.stop(ctx, grace)
}

// StartService starts a service StopService stopped, with the command it
// was first started with, records its new pid in the state file, and
// waits until its address accepts connections (or ctx ends). A service
// still running is left alone.
func (s *Stack) StartService(ctx context.Context, name string) error {
	p, err := s.process(name)
	if err != nil {
		return err
	}
	if p.Running() {
		return nil
	}
	c := p.Command
	if c == nil {
		return fmt.Errorf("start %s: the state file does not record its command (a stack from an older silt): restart the stack", name)
	}
	cmd := exec.Command(c.Path, c.Args[1:]...) // outlives ctx: ctx bounds the wait only
	cmd.Env, cmd.Dir = c.Env, c.Dir
	np, err := startProcess(name, cmd, p.Log, c.Detach)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.state.Processes, func(q *Process) bool { return q.Name == name })
	s.state.Processes[i] = np
	if s.stateFile != "" {
		if err := writeState(s.stateFile, &s.state); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
	}
	return s.waitListening(ctx, name)
}

func (s *Stack) process(name string) (*Process, error) {
	for _, p := range s.state.Processes {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownService, name)
}

// waitListening polls the service's main address until it accepts TCP
// connections. (A listening Trino may still be starting its catalogs;
// clients of a restarted service retry anyway.)
func (s *Stack) waitListening(ctx context.Context, name string) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, st := range s.Status(ctx) {
			if st.Name != name {
				continue
			}
			if !st.Running {
				return fmt.Errorf("%s exited after its restart; log %s:\n%s", name, st.Log, logTail(st.Log, 20))
			}
			if st.Listening {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to listen: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}
