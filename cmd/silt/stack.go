package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/stack"
)

func init() {
	register(&command{
		name:    "stack",
		usage:   "up|down|status|stop|start|trino|certs [flags]",
		summary: "real MinIO, Kafka and Trino as native processes (no Docker), plain or --secure",
		order:   90,
		run:     runStack,
	})
}

// stackHelp is silt stack's usage text, printed for --help and, before
// the usage line, on a usage error.
const stackHelp = `Subcommands:
  up      [--secure] [--metastore] [--state F] [--timeout D]
          Start MinIO, Kafka (KRaft) and Trino as native processes on free
          127.0.0.1 ports (installed into ~/.cache/silt on first use) and
          print the export lines that point silt at them.
          --secure starts the secured variant, apart from a plain stack (own
          run directory, ports and state file), so both can run at once:
          TLS from a CA generated into its run directory; Kafka SASL_SSL
          (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN) and SSL with required client
          certificates; MinIO over https with a KMS key (SSE-S3, SSE-KMS);
          Trino over https with password authentication. Random users'
          passwords; the CA and client certificates are in its state file.
          --metastore also runs a Hive Metastore (Derby) with Trino catalogs
          hive_hms and iceberg_hms on it; with --secure its S3A speaks https
          to MinIO with SSE-KMS, and its Thrift port stays plaintext on
          127.0.0.1 (no Thrift client silt uses speaks TLS).
  down    [--secure] [--state F]       stop the stack, remove its run directory
  status  [--secure] [--state F]       each service's pid, address and health
  stop    [--secure] [--state F] SERVICE
          Stop one service (minio, kafka, trino, metastore) and keep its
          data, for failure drills: silt retries and reports it meanwhile.
  start   [--secure] [--state F] SERVICE
          Start a stopped service again, same ports and data, and wait
          until it listens.
  trino   [--secure] [--state F] ARGS  the trino CLI against the stack, e.g.
                                       --execute 'SHOW SCHEMAS FROM hive'
  certs   --dir DIR [--hosts a,b,c] [--force]
          Write a CA (ca.crt, ca.key), a server certificate for 127.0.0.1,
          ::1, localhost and the hosts (server.crt, server.key; both in
          server.pem) and client certificates for mTLS, a valid one
          (client.crt, client.key; CN silt-client) and an expired one
          (client-expired.*), as PEM: e.g. for the docker compose secured
          variant (--hosts kafka,minio,trino).

--state defaults to ~/.cache/silt/stack/state.json, with --secure to
~/.cache/silt/stack/secure-state.json.
`

func runStack(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, stackHelp)
		return errUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "--help", "-help", "help":
		fmt.Fprintf(os.Stdout, "usage: silt stack %s\n\n%s", commands["stack"].usage, stackHelp)
		return nil
	case "certs":
		return stackCerts(args)
	}
	if sub == "trino" {
		// Everything but --state and --secure belongs to the trino CLI.
		state, secure, rest := "", false, []string{}
		for i := 0; i < len(args); i++ {
			switch a := args[i]; {
			case (a == "--state" || a == "-state") && i+1 < len(args):
				state = args[i+1]
				i++
			case strings.HasPrefix(a, "--state="):
				state = strings.TrimPrefix(a, "--state=")
			case a == "--secure" || a == "-secure":
				secure = true
			default:
				rest = append(rest, a)
			}
		}
		state, err := stateFile(state, secure)
		if err != nil {
			return err
		}
		return stackTrino(ctx, state, rest)
	}
	fs := flag.NewFlagSet("stack "+sub, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: silt stack %s [flags]\n\n%s\nFlags of silt stack %s:\n", sub, stackHelp, sub)
		fs.PrintDefaults()
	}
	state := fs.String("state", "", "state file: pids, ports, dirs and endpoints of the running stack (default ~/.cache/silt/stack/state.json, secure-state.json with --secure)")
	secure := fs.Bool("secure", false, "the secured stack: TLS from a generated CA, Kafka SASL_SSL and mTLS, MinIO https with KMS, Trino https with passwords")
	fs.Bool("wait", true, "up: return only when every service answers requests (always true; kept for scripts)")
	metastore := fs.Bool("metastore", false, "up: also run a standalone Hive Metastore (Derby) and a Trino catalog hive_hms over Thrift (not with --secure)")
	timeout := fs.Duration("timeout", 20*time.Minute, "up: give up after this long (the first run downloads and builds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	service := ""
	if sub == "stop" || sub == "start" {
		if fs.NArg() != 1 {
			return fmt.Errorf("stack %s: name one service (minio, kafka, trino, metastore)", sub)
		}
		service = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("stack %s: unexpected argument %q", sub, fs.Arg(0))
	}
	path, err := stateFile(*state, *secure)
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		return stackUp(ctx, path, *timeout, *metastore, *secure)
	case "down":
		return stackDown(ctx, path)
	case "status":
		return stackStatus(ctx, path)
	case "stop", "start":
		return stackService(ctx, path, sub, service, *timeout)
	}
	fmt.Fprint(os.Stderr, stackHelp)
	return errUsage
}

// stateFile is --state, or the default state file of the plain or the
// secure stack.
func stateFile(flagValue string, secure bool) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if secure {
		return stack.DefaultSecureStateFile()
	}
	return stack.DefaultStateFile()
}

// stackCerts writes the secure stack's kind of PKI into a directory, for
// services run some other way (docker compose).
func stackCerts(args []string) error {
	fs := flag.NewFlagSet("stack certs", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: silt stack certs --dir DIR [--hosts a,b,c] [--force]\n\n%s\nFlags of silt stack certs:\n", stackHelp)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "directory to write the PEM files into (created if missing)")
	hosts := fs.String("hosts", "", "comma-separated host names or IPs for the server certificate, besides 127.0.0.1, ::1 and localhost")
	force := fs.Bool("force", false, "replace a CA already in --dir (certificates it signed stop being trusted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprint(os.Stderr, stackHelp)
		return errUsage
	}
	if _, err := os.Stat(filepath.Join(*dir, "ca.crt")); err == nil && !*force {
		return fmt.Errorf("%s already holds a CA (ca.crt); --force replaces it", *dir)
	}
	var hs []string
	if *hosts != "" {
		hs = strings.Split(*hosts, ",")
	}
	f, err := stack.GenerateCerts(*dir, hs)
	if err != nil {
		return err
	}
	fmt.Printf(`CA                  %s (key %s)
server certificate  %s (key %s; both in %s)
client certificate  %s (key %s), CN %s
expired client      %s (key %s)
`, f.CA, f.CAKey, f.ServerCert, f.ServerKey, f.ServerPEM, f.ClientCert, f.ClientKey, stack.ClientCommonName,
		f.ExpiredClientCert, f.ExpiredClientKey)
	return nil
}

// stackTrino runs the trino CLI against the running stack, with the
// remaining arguments (e.g. --execute 'SHOW TABLES FROM hive.events').
func stackTrino(ctx context.Context, state string, args []string) error {
	s, err := stack.Attach(state)
	if err != nil {
		return fmt.Errorf("no running stack (silt stack up first): %w", err)
	}
	// With the CLI's environment: a secure stack's TRINO_PASSWORD.
	cmd := s.Endpoints().TrinoCommand(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

func stackUp(ctx context.Context, state string, timeout time.Duration, metastore, secure bool) error {
	if old, err := stack.Attach(state); err == nil {
		if old.Endpoints().Secure != secure {
			kind := map[bool]string{false: "a plain", true: "a secure"}[old.Endpoints().Secure]
			return fmt.Errorf("%s is the state of %s stack: give this one another --state (or stop that one first)", state, kind)
		}
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
	st, err := stack.Up(ctx, stack.Options{StateFile: state, Detach: true, Metastore: metastore, Secure: secure})
	if err != nil {
		return err
	}
	printEndpoints(st.Endpoints(), state)
	return nil
}

func printEndpoints(e *stack.Endpoints, state string) {
	if e.Secure {
		printSecureEndpoints(e, state)
		return
	}
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
	printExports(e.Env())
}

func printExports(env []string) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Printf("export %s=%s\n", k, shellQuote(v))
	}
}

// printSecureEndpoints is printEndpoints for a secure stack. Passwords
// appear in the export lines only, once each.
func printSecureEndpoints(e *stack.Endpoints, state string) {
	fmt.Printf(`# silt stack (secure) is up; stop it with: silt stack down --state %s
# CA       %s (key %s)
# client   %s, key %s (CN %s); expired: %s
# MinIO    https://%s  bucket %s (user %s), KMS key %s for SSE-S3/SSE-KMS
# Kafka    SASL_SSL %s (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN as %s)
#          SSL with client certificate %s
# Trino    %s  user %s, catalog %s, lake at %s
# trino CLI: silt stack trino --state %s --catalog %s
#   (or TRINO_PASSWORD="$SILT_TRINO_PASSWORD" %s --catalog %s)
# Kafka over mTLS instead of SCRAM: SILT_KAFKA_BROKERS=%s SILT_KAFKA_TLS_CERT_FILE=%s
#   SILT_KAFKA_TLS_KEY_FILE=%s and no SILT_KAFKA_SASL_* (stack.Endpoints.EnvMTLS)
`, state, e.CAFile, e.CAKeyFile, e.ClientCertFile, e.ClientKeyFile, stack.ClientCommonName, e.ExpiredClientCertFile,
		e.S3Endpoint, e.S3Bucket, e.S3AccessKey, e.S3KMSKeyID,
		strings.Join(e.KafkaSASLBrokers, ","), e.KafkaSCRAMUser, strings.Join(e.KafkaMTLSBrokers, ","),
		e.TrinoServer, e.TrinoUser, e.TrinoCatalog, e.TrinoSchemaLocation,
		state, e.TrinoCatalog, strings.Join(e.TrinoCLI, " "), e.TrinoCatalog,
		strings.Join(e.KafkaMTLSBrokers, ","), shellQuote(e.ClientCertFile), shellQuote(e.ClientKeyFile))
	if e.MetastoreURI != "" {
		fmt.Printf("# Metastore %s, plaintext Thrift on loopback  (Trino catalogs %s, %s)\n",
			e.MetastoreURI, e.TrinoMetastoreCatalog, e.TrinoMetastoreIcebergCatalog)
	}
	printExports(e.Env())
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

// stackService stops or starts one service of a running stack.
func stackService(ctx context.Context, state, verb, service string, timeout time.Duration) error {
	st, err := stack.Attach(state)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no stack running (no %s)", state)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if verb == "stop" {
		err = st.StopService(ctx, service, 15*time.Second)
	} else {
		err = st.StartService(ctx, service)
	}
	if err != nil {
		return fmt.Errorf("stack %s %s: %w", verb, service, err)
	}
	fmt.Fprintf(os.Stderr, "silt stack: %s %s\n", service, map[string]string{"stop": "stopped", "start": "started"}[verb])
	return nil
}
