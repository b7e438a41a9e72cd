// Command silt is a lakehouse ETL job runner: Kafka JSON events to Snappy
// Parquet on S3 or a local lake, registered as Hive tables for Trino or
// DuckDB, with scheduled SQL reports. main only parses and dispatches; each
// subcommand lives in its own file and registers itself in init.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"github.com/silt-etl/silt/internal/version"
)

// command is one subcommand. run gets the arguments after its name.
type command struct {
	name    string
	usage   string // the arguments, e.g. "NAME [--out F]"
	summary string
	order   int // position in --help
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage makes main print the command's usage and exit 2.
var errUsage = errors.New("usage")

func main() {
	// SILT_CPUPROFILE=FILE writes a CPU profile of the command, for
	// performance work (go tool pprof bin/silt FILE).
	if path := os.Getenv("SILT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args[1:])
				pprof.StopCPUProfile()
				if err := f.Close(); err != nil {
					fmt.Fprintln(os.Stderr, "silt: SILT_CPUPROFILE:", err)
				}
				os.Exit(code)
			}
		}
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(os.Stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Println(version.String())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "silt: unknown command %q\n\n", args[0])
		printHelp(os.Stderr)
		return 2
	}
	// The first SIGINT/SIGTERM cancels ctx for a graceful stop; commands
	// that need a second-signal hard exit install their own handling.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A panic on this goroutine prints its value and stack scrubbed of the
	// configured secrets, then exits 2 as Go's own panic does.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "panic: %s\n\n%s", redactOutput(fmt.Sprint(r)), redactOutput(string(debug.Stack())))
			os.Exit(2)
		}
	}()
	err := cmd.run(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "usage: silt %s %s\n", cmd.name, cmd.usage)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "silt %s: %s\n", cmd.name, redactOutput(err.Error()))
		return 1
	}
}

// redactOutput scrubs the loaded config's secrets from what silt prints
// outside the logger (the final error, a panic). commonFlags.load sets it.
var redactOutput = func(s string) string { return s }

func printHelp(w *os.File) {
	fmt.Fprint(w, `silt — Kafka JSON events to Snappy Parquet on a lake, Hive tables for Trino or
DuckDB, and scheduled SQL reports as CSV.

Usage: silt COMMAND [flags]

Commands:
`)
	cmds := make([]*command, 0, len(commands))
	for _, c := range commands {
		cmds = append(cmds, c)
	}
	sort.Slice(cmds, func(i, j int) bool {
		if cmds[i].order != cmds[j].order {
			return cmds[i].order < cmds[j].order
		}
		return cmds[i].name < cmds[j].name
	})
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-8s %-30s %s\n", c.name, c.usage, c.summary)
	}
	fmt.Fprint(w, strings.TrimLeft(`
Every command takes --config FILE (silt.yaml); without one, silt runs the
embedded default: an in-process Kafka broker, a lake in ./silt-data and
DuckDB. Every config key can be overridden by an environment variable
(SILT_KAFKA_BROKERS, SILT_S3_ENDPOINT, SILT_TRINO_URL, ...; see
silt.example.yaml). Run 'silt COMMAND --help' for a command's flags.
`, "\n"))
}
