package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/kafkaconn"
	"github.com/silt-etl/silt/internal/probe"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
)

func init() {
	register(&command{
		name: "check", usage: "[--config F] [--timeout D] [--json]", order: 80,
		summary: "connect to each configured service and say what is wrong (exit 1 if anything is)",
		run:     runCheck,
	})
}

const checkHelp = `Connects to every service the config names, as silt itself would, and
prints one line per service: ok with what was found, or FAIL with the cause
in plain words and the config key that fixes it.

  kafka    metadata and the consumer group (TLS and SASL as configured)
  lake     an S3 bucket: put, read back and delete a probe object under
           _silt/probe/ (a local lake: the same in its directory)
  catalog  Trino: SELECT 1, the catalog and the schema (DuckDB: nothing to reach)
  alerts   SMTP up to login, the webhook's host up to its TLS handshake

Secrets never appear in the output. Exit status 1 when any check fails.
`

func runCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	timeout := fs.Duration("timeout", 20*time.Second, "how long each service may take to answer")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: silt check [flags]\n\n%s\nFlags:\n", checkHelp)
		fs.PrintDefaults()
	}
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	probes, err := serviceProbes(cfg, nil)
	if err != nil {
		return err
	}
	results := probe.RunAll(ctx, probes, *timeout, cfg.Redact)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		printChecks(os.Stdout, results)
	}
	if failed := probe.Failed(results); failed != nil {
		return errCheckFailed
	}
	return nil
}

// errCheckFailed exits 1 without repeating what the table already says.
var errCheckFailed = errors.New("some services failed their check (see above)")

func printChecks(w io.Writer, results []probe.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range results {
		if r.OK {
			fmt.Fprintf(tw, "%s\tok\t%s\t%s (%s)\n", r.Service, r.Target, r.Detail, r.Took.Round(time.Millisecond))
			continue
		}
		cause := r.Cause
		if cause == "" {
			cause = "see the error"
		}
		fmt.Fprintf(tw, "%s\tFAIL\t%s\t%s\n", r.Service, r.Target, cause)
		fmt.Fprintf(tw, "\t\t\terror: %s\n", r.Error)
	}
	_ = tw.Flush() // the terminal: no one left to tell
}

// serviceProbes checks what cfg configures. store, when set, is the lake
// silt run already holds; otherwise each lake check opens it anew.
func serviceProbes(cfg *config.Config, store lake.Store) ([]probe.Probe, error) {
	var probes []probe.Probe
	if !cfg.Embedded {
		conn, err := kafkaClientOpts(cfg)
		if err != nil {
			return nil, err
		}
		opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...)}, conn...)
		probes = append(probes, probe.Probe{
			Service: "kafka", Target: kafkaTarget(cfg.Kafka),
			Run: func(ctx context.Context) (string, error) {
				return kafkaconn.Check(ctx, cfg.Kafka.Group, opts...)
			},
			Explain: kafkaconn.Explain,
		})
	}
	probes = append(probes, probe.Probe{
		Service: "lake", Target: lakeTarget(cfg),
		Run: func(ctx context.Context) (string, error) {
			s := store
			if s == nil {
				var err error
				if s, err = openLake(ctx, cfg); err != nil {
					return "", err
				}
			}
			if err := lake.Probe(ctx, s); err != nil {
				return "", err
			}
			detail := "put, read back and deleted a probe object"
			if s3, ok := s.(*lake.S3); ok {
				detail += "; credentials: " + s3.CredentialSource()
			}
			return detail, nil
		},
		Explain: lake.ExplainS3Error,
	})
	if cfg.Catalog.Kind == "trino" {
		t := catalogOptions(cfg, nil).Trino
		probes = append(probes, probe.Probe{
			Service: "catalog", Target: "trino " + withoutCredentials(t.URL) + " catalog " + t.Catalog,
			Run: func(ctx context.Context) (string, error) {
				return catalog.CheckTrino(ctx, t)
			},
			Explain: catalog.ExplainTrinoError,
		})
	}
	if n := report.NewNotifier(alertOptions(cfg)); n.Enabled() {
		probes = append(probes, probe.Probe{Service: "alerts", Target: alertsTarget(cfg.Reports.Alerts), Run: n.Check})
	}
	return probes, nil
}

func kafkaTarget(k config.Kafka) string {
	var sec []string
	if k.TLS.Enabled {
		sec = append(sec, "TLS")
		if k.TLS.CertFile != "" {
			sec = append(sec, "client certificate")
		}
	}
	if k.SASL.Mechanism != "" {
		who := ""
		if k.SASL.Username != "" {
			who = " as " + k.SASL.Username
		}
		sec = append(sec, "SASL "+k.SASL.Mechanism+who)
	}
	if len(sec) == 0 {
		sec = append(sec, "plaintext")
	}
	return strings.Join(k.Brokers, ",") + " (" + strings.Join(sec, ", ") + ")"
}

func lakeTarget(cfg *config.Config) string {
	if cfg.Lake.Kind != "s3" {
		return cfg.Lake.Root
	}
	s := cfg.Lake.S3
	scheme := "http"
	if s.Secure {
		scheme = "https"
	}
	return s.LakeURI() + " at " + scheme + "://" + s.Endpoint
}

// withoutCredentials is a URL's scheme and host only: no user, password,
// path or query (a webhook's path often carries its token).
func withoutCredentials(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		if q := strings.IndexAny(rest, "?/"); q >= 0 {
			rest = rest[:q]
		}
		return dsn[:i+3] + rest
	}
	return "(catalog.trino.url)"
}

func alertsTarget(a config.Alerts) string {
	var parts []string
	if a.SMTP.Addr != "" {
		parts = append(parts, "smtp "+a.SMTP.Addr)
	}
	if a.Webhook != "" {
		parts = append(parts, "webhook "+withoutCredentials(a.Webhook))
	}
	return strings.Join(parts, ", ")
}
