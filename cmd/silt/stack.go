package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/stack"
)

func init() {
	register(&command{
		name:    "stack",
		usage:   "up|down|status|trino [--state F]",
		summary: "real MinIO, Kafka and Trino as native processes (no Docker)",
		order:   90,
		run:     runStack,
	})
}

func runStack(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	sub, args := args[0], args[1:]
	defState, err := stack.DefaultStateFile()
	if err != nil {
		return err
	}
	if sub == "trino" {
		// Everything but --state belongs to the trino CLI.
		state, rest := defState, []string{}
		for i := 0; i < len(args); i++ {
			switch a := args[i]; {
			case (a == "--state" || a == "-state") && i+1 < len(args):
				state = args[i+1]
				i++
			case strings.HasPrefix(a, "--state="):
				state = strings.TrimPrefix(a, "--state=")
			default:
				rest = append(rest, a)
			}
		}
		return stackTrino(ctx, state, rest)
	}
	fs := flag.NewFlagSet("stack "+sub, flag.ContinueOnError)
	state := fs.String("state", defState, "state file: pids, ports, dirs and endpoints of the running stack")
	fs.Bool("wait", true, "up: return only when every service answers requests (always true; kept for scripts)")
	metastore := fs.Bool("metastore", false, "up: also run a standalone Hive Metastore (Derby) and a Trino catalog hive_hms over Thrift")
	timeout := fs.Duration("timeout", 20*time.Minute, "up: give up after this long (the first run downloads and builds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch sub {
	case "up":
		return stackUp(ctx, *state, *timeout, *metastore)
	case "down":
		return stackDown(ctx, *state)
	case "status":
		return stackStatus(ctx, *state)
	}
	return errUsage
}

// stackTrino runs the trino CLI against the running stack, with the
// remaining arguments (e.g. --execute 'SHOW TABLES FROM hive.events').
func stackTrino(ctx context.Context, state string, args []string) error {
	s, err := stack.Attach(state)
	if err != nil {
		return fmt.Errorf("no running stack (silt stack up first): %w", err)
	}
	argv := append(append([]string{}, s.Endpoints().TrinoCLI...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

func stackUp(ctx context.Context, state string, timeout time.Duration, metastore bool) error {
	if old, err := stack.Attach(state); err == nil {
		if old.Healthy(ctx) == nil {
			fmt.Fprintf(os.Stderr, "silt stack: already running (state %s)\n", state)
			printEndpoints(old.Endpoints(), state)
			return nil
		}
		// A stale state file (machine rebooted, processes killed): clear it.
		if err := old.Down(ctx); err != nil {
			return fmt.Errorf("clear stale stack from %s: %w", state, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := stack.Up(ctx, stack.Options{StateFile: state, Detach: true, Metastore: metastore})
	if err != nil {
		return err
	}
	printEndpoints(st.Endpoints(), state)
	return nil
}

func printEndpoints(e *stack.Endpoints, state string) {
	fmt.Printf(`# silt stack is up; stop it with: silt stack down --state %s
# MinIO    http://%s  bucket %s (user %s)
# Kafka    %s
# Trino    %s  catalog %s, lake at %s
# trino CLI: %s --catalog %s
`, state, e.S3Endpoint, e.S3Bucket, e.S3AccessKey, strings.Join(e.KafkaBrokers, ","),
		e.TrinoServer, e.TrinoCatalog, e.TrinoSchemaLocation, strings.Join(e.TrinoCLI, " "), e.TrinoCatalog)
	if e.MetastoreURI != "" {
		fmt.Printf("# Metastore %s  (Trino catalog %s)\n", e.MetastoreURI, e.TrinoMetastoreCatalog)
	}
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Printf("export %s=%s\n", k, shellQuote(v))
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func stackDown(ctx context.Context, state string) error {
	st, err := stack.Attach(state)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "silt stack: nothing to stop (no %s)\n", state)
		return nil
	}
	if err != nil {
		return err
	}
	if err := st.Down(ctx); err != nil {
		if _, serr := os.Stat(state); serr == nil {
			// Down keeps the state file when a process would not stop.
			return fmt.Errorf("%w\n(%s is kept: run silt stack down again)", err, state)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "silt stack: stopped, removed %s\n", st.State().Dir)
	return nil
}

func stackStatus(ctx context.Context, state string) error {
	st, err := stack.Attach(state)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no stack running (no %s)", state)
	}
	if err != nil {
		return err
	}
	for _, s := range st.Status(ctx) {
		health := "down"
		if s.Running && s.Listening {
			health = "up"
		} else if s.Running {
			health = "running, not listening"
		}
		fmt.Printf("%-6s %-24s pid %-8d %-22s log %s\n", s.Name, s.Addr, s.PID, health, s.Log)
	}
	return st.Healthy(ctx)
}
