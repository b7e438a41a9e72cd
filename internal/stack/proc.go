package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one service process as recorded in the state file. It leads
// its own process group, so Down stops the service and anything it forked.
type Process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// StartTicks is field 22 of /proc/PID/stat at start: a reused PID
	// belongs to a process with another start time, and is left alone.
	StartTicks uint64 `json:"start_ticks"`
	Log        string `json:"log"`
	// Command is how the process was started, so that StartService can
	// start it again after StopService (failure drills). Its environment
	// may hold the stack's generated passwords: the state file is 0600.
	Command *Command `json:"command,omitempty"`

	// exited is closed when this process (our child) has been reaped; nil
	// when the state was read by another process.
	exited chan struct{}
}

// startProcess starts cmd in its own process group with stdout and stderr
// to logPath. With detach the process outlives us (silt stack up); without,
// the kernel kills it when we die, so a crashed test binary leaks nothing.
func startProcess(name string, cmd *exec.Cmd, logPath string, detach bool) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer func() { _ = logf.Close() }()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !detach {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	p := &Process{Name: name, PID: cmd.Process.Pid, Log: logPath, exited: make(chan struct{}),
		Command: &Command{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir, Detach: detach}}
	p.StartTicks, _ = startTicks(p.PID)
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Running reports whether the recorded process still exists (and is the
// same process, not a reused PID).
func (p *Process) Running() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	ticks, err := startTicks(p.PID)
	if err != nil {
		return false
	}
	return p.StartTicks == 0 || ticks == p.StartTicks
}

// stop sends SIGTERM to the process group, waits for the leader to go and
// then SIGKILLs the group, so no grandchild survives either.
func (p *Process) stop(ctx context.Context, grace time.Duration) error {
	if !p.Running() {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL) // stray group members
		return nil
	}
	if err := syscall.Kill(-p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for p.Running() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
			return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, ctx.Err())
		case <-deadline.C:
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		case <-tick.C:
		}
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	return nil
}

// ProcStat is what silt reads of /proc/PID/stat.
type ProcStat struct {
	State      string // R, S, D, Z (zombie), X (dead), ...
	PGRP       int    // process group
	StartTicks uint64 // start time since boot, in clock ticks
}

// ReadProcStat reads /proc/pid/stat. The command name (field 2) may hold
// anything, so fields are counted from its closing parenthesis.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields after the name", pid, len(f))
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat: process group: %w", pid, err)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("parse /proc/%d/stat: start time: %w", pid, err)
	}
	return ProcStat{State: f[0], PGRP: pgrp, StartTicks: ticks}, nil
}

// Exited reports a zombie or dead process: gone, though not yet reaped.
func (s ProcStat) Exited() bool { return s.State == "Z" || s.State == "X" }

// startTicks reads a process's start time; a zombie counts as gone.
func startTicks(pid int) (uint64, error) {
	st, err := ReadProcStat(pid)
	if err != nil {
		return 0, err
	}
	if st.Exited() {
		return 0, fmt.Errorf("process %d exited", pid)
	}
	return st.StartTicks, nil
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before the service binds; the health check then fails loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	// Closed before the port is handed out, or it is not free.
	return port, l.Close()
}

// logTail is the end of a service log, for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// poll calls check until it succeeds, the process dies, or ctx ends.
func poll(ctx context.Context, p *Process, what string, check func(context.Context) error) error {
	var last error
	for {
		if !p.Running() {
			return fmt.Errorf("%s exited before it was ready (last check: %v); log %s:\n%s", p.Name, last, p.Log, logTail(p.Log, 30))
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s %s: %w (last check: %v); log %s:\n%s", p.Name, what, ctx.Err(), last, p.Log, logTail(p.Log, 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}
