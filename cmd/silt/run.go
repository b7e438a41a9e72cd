package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/silt-etl/silt/internal/collect"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/internal/probe"
	"github.com/silt-etl/silt/internal/web"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/scheduler"
)

func init() {
	register(&command{
		name: "run", usage: "[--config F] [--listen ADDR] [--collect]", order: 10,
		summary: "the scheduler daemon: ingest, register and reports on cron, status page",
		run:     runRun,
	})
}

// runHelp is what `silt run --help` prints above the flags.
const runHelp = `Runs the configured jobs (ingest, register, reports, compaction, retention)
on their cron schedules, with the status page, /metrics, /healthz and /readyz
on http.listen, until SIGINT or SIGTERM.

Stopping: the first SIGINT/SIGTERM stops scheduling, lets running jobs finish
(cancelling them after --stop-timeout) and exits 0. A second signal exits at
once with status 130; that is safe too: an interrupted ingest batch is
replayed exactly on the next start, so no event is lost or written twice.
`

// embeddedPartitions is the partition count of the in-process broker's topics.
const embeddedPartitions = 3

func runRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	listen := fs.String("listen", "", "status page, /metrics and /healthz address (default: http.listen; \"off\" disables)")
	jsonLogs := fs.Bool("json-logs", false, "log as JSON (same as --log-format json)")
	withCollector := fs.Bool("collect", false, "also serve the HTTP collector on collect.listen (always on in the embedded default)")
	stopTimeout := fs.Duration("stop-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long running jobs may take to finish before they are cancelled")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: silt run [flags]\n\n%s\nFlags:\n", runHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errUsage
	}
	if *jsonLogs {
		common.logFormat = "json"
	}
	// A second SIGINT/SIGTERM exits at once; the first (which also cancels
	// ctx, see main) stops gracefully. Safe either way: ingest's pinned
	// batches are replayed exactly on the next start.
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		<-sigc
		<-sigc
		fmt.Fprintln(os.Stderr, "silt run: second signal, exiting now")
		os.Exit(130)
	}()

	cfg, err := common.load()
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.HTTP.Listen = *listen
	}
	log := slog.Default()

	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	if cfg.Embedded {
		broker, err := startEmbedded(genCtx, cfg)
		if err != nil {
			return err
		}
		defer broker.Close()
	}

	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	hist, err := scheduler.OpenHistory(ctx, store, 0)
	if err != nil {
		return err
	}
	kafkaOpts, err := kafkaClientOpts(cfg)
	if err != nil {
		return err
	}
	deps := &jobDeps{cfg: cfg, store: store, log: log, kafka: kafkaOpts, catalog: lazyCatalog(cfg, store, log),
		metrics: ingest.NewMetrics(prometheus.DefaultRegisterer)}
	defer deps.catalog.Close()
	eventsAPI := eventsapi.NewOnDemand(deps.catalog.Get, log)
	if _, err := deps.catalog.Get(ctx); err != nil {
		// Ingest still lands data in the lake; registration, reports and
		// the events API catch up once the catalog answers.
		log.Warn("catalog unavailable at start: ingest runs, registration and reports retry until it answers", "err", err)
	}
	defer deps.close()

	loc, err := cfg.Scheduler.Location()
	if err != nil {
		return err
	}
	// printRun's line is the one line per run on the console; the
	// scheduler's own record of it is then at debug level (log.level: debug).
	// Every job but ingest is cluster-wide (jobSpec): of
	// the silt processes sharing this lake, one runs each slot of it,
	// through a lease in the lake (see "Running more than one silt").
	holder := processName(cfg)
	sched, err := scheduler.New(scheduler.Options{History: hist, Location: loc, Logger: log, OnRun: printRun,
		Leases: store, Holder: holder, LeaseTTL: cfg.Scheduler.LeaseTTL.Std()})
	if err != nil {
		return err
	}
	if err := addJobs(sched, deps, cfg.Jobs); err != nil {
		return err
	}

	// The services are checked at start and every 30 s: a wrong password or
	// an untrusted certificate shows on /readyz and the status page with
	// its cause and key, and in one log line per change.
	probes, err := serviceProbes(cfg, store)
	if err != nil {
		return err
	}
	monitor := probe.NewMonitor(probes, probe.MonitorOptions{Redact: cfg.Redact, OnResult: logConnectionChanges(log)})
	go monitor.Run(genCtx)
	ready := func() error {
		if err := sched.Ready(); err != nil {
			return err
		}
		return monitor.Ready()
	}

	httpDone := make(chan error, 1)
	// serving is httpDone while the server runs: its end stops silt run.
	// Without a listener (http.listen: off) nothing ends that way.
	var serving chan error
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	if cfg.HTTP.Listen != "" && cfg.HTTP.Listen != "off" {
		srv := web.New(web.Options{
			Jobs: sched, Tables: web.LakeTables{Store: store}, Lag: ingestLag{deps.metrics}, ReportsDir: cfg.Reports.Out,
			Ready: ready, Connections: monitor.Results, Logger: log,
		})
		srv.Handle("GET /api/events/", eventsAPI)
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s (http.listen, or --listen): %w", cfg.HTTP.Listen, err)
		}
		fmt.Fprintf(os.Stdout, "silt run: status page http://%s/ (metrics at /metrics)\n", ln.Addr())
		go func() { httpDone <- srv.Serve(httpCtx, ln) }()
		serving = httpDone
	} else {
		httpDone <- nil
	}

	collectDone := make(chan error, 1)
	if *withCollector || cfg.Demo {
		if err := startCollector(ctx, cfg, eventsAPI, collectDone); err != nil {
			return err
		}
	} else {
		collectDone <- nil
	}

	if err := sched.Start(ctx); err != nil {
		return err
	}
	log.Info("silt run started", "jobs", len(sched.Status()), "embedded", cfg.Embedded, "process", holder)

	select {
	case <-ctx.Done():
	case err := <-serving:
		if err != nil {
			log.Error("http server failed; stopping", "err", err)
		}
		httpDone <- nil
	}
	running := 0
	for _, j := range sched.Status() {
		if j.Running {
			running++
		}
	}
	fmt.Fprintf(os.Stderr, "silt run: stopping: waiting for %d running jobs (a second signal exits at once)\n", running)
	stopGen()
	deps.drain()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *stopTimeout)
	defer cancel()
	if err := sched.Stop(stopCtx); err != nil {
		// The cancelled batch is replayed exactly on the next start.
		log.Warn("jobs did not finish in time and were cancelled", "err", err)
	}
	stopHTTP()
	if err := <-httpDone; err != nil {
		log.Warn("http server", "err", err)
	}
	if err := <-collectDone; err != nil {
		log.Warn("collector", "err", err)
	}
	fmt.Fprintln(os.Stderr, "silt run: stopped")
	return nil
}

// startCollector serves the collector (and the events API) until ctx ends,
// then drains it: in-flight requests finish and buffered records flush.
func startCollector(ctx context.Context, cfg *config.Config, api http.Handler, done chan<- error) error {
	opts := collect.Options{Registerer: prometheus.DefaultRegisterer, Metrics: promhttp.Handler(), API: api}
	col, ln, err := listenCollector(ctx, cfg, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "silt run: collector http://%s/events (GET / , /purchase_a_sword, /join_the_guild)\n", ln.Addr())
	go func() { done <- col.Serve(ctx, ln) }()
	return nil
}

// startEmbedded starts the in-process broker (and, in the no-config demo,
// the event generator) and points cfg at the broker. The broker keeps its
// log beside the lake, so a restart resumes from the committed offsets.
func startEmbedded(ctx context.Context, cfg *config.Config) (*embedded.Broker, error) {
	dataDir := filepath.Join(cfg.Lake.Root, "_kafka")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded broker data dir: %w", err)
	}
	// The well-known port lets `silt gen` and `silt ingest` without a
	// config find this broker; when it is taken, any free port will do.
	broker, err := embedded.StartBroker(embeddedPort(), dataDir, cfg.Kafka.Topics, embeddedPartitions)
	if err != nil {
		broker, err = embedded.StartBroker(0, dataDir, cfg.Kafka.Topics, embeddedPartitions)
	}
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = broker.Addrs()
	// Loud on purpose: someone who meant a real Kafka must see at once
	// that this is the demo broker (set kafka.brokers or SILT_KAFKA_BROKERS).
	fmt.Fprintf(os.Stderr, "silt run: EMBEDDED demo Kafka broker on %s (kafka.brokers names no real Kafka; set it or SILT_KAFKA_BROKERS for one)\n", strings.Join(cfg.Kafka.Brokers, ","))
	if !cfg.Demo {
		return broker, nil
	}
	fmt.Fprintf(os.Stdout, "silt run: embedded Kafka broker on %s, generating %.0f events/s of synthetic demo events to %q\n", strings.Join(cfg.Kafka.Brokers, ","), cfg.Gen.Rate, cfg.Kafka.Topics[0])
	go func() {
		if err := embedded.Generate(ctx, cfg.Kafka.Brokers, cfg.Kafka.Topics[0], cfg.Gen.Rate, cfg.Gen.Hosts, cfg.Gen.EventTypes); err != nil {
			slog.Error("event generator stopped", "err", err)
		}
	}()
	return broker, nil
}

func embeddedPort() int {
	_, port, _ := net.SplitHostPort(config.EmbeddedBroker)
	n, _ := strconv.Atoi(port)
	return n
}

// addJobs schedules the configured jobs; a job that cannot be built
// (unknown report, bad parameter) fails start-up with its name. Ingest
// runs on every process, every other kind on one process per slot
// (jobSpec sets ClusterWide).
func addJobs(sched *scheduler.Scheduler, deps *jobDeps, jobs []config.Job) error {
	for _, j := range jobs {
		job, err := deps.buildJob(j)
		if err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
		if err := sched.Add(job, jobSpec(j)); err != nil {
			return err
		}
	}
	return nil
}

// printRun is the status line a user watches, one per run.
func printRun(r scheduler.Run) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-16s %-7s %8s", r.End.UTC().Format("15:04:05"), r.Job, r.Status, r.Duration().Round(time.Millisecond))
	if r.Attempts > 1 {
		fmt.Fprintf(&b, " attempts=%d", r.Attempts)
	}
	if c := countsLine(r.Counts); c != "" {
		b.WriteString(" " + c)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, " error=%q", r.Error)
	}
	fmt.Fprintln(os.Stdout, b.String())
}

// countsLine is a run's non-zero counts, sorted: events=1000 files=9 ...
func countsLine(counts map[string]int64) string {
	keys := make([]string, 0, len(counts))
	for k, v := range counts {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, counts[k])
	}
	return strings.Join(parts, " ")
}

// logConnectionChanges logs a service's check when its state changes (and
// each failure's first sighting), not every round.
func logConnectionChanges(log *slog.Logger) func(probe.Result) {
	var mu sync.Mutex
	last := map[string]bool{}
	return func(r probe.Result) {
		mu.Lock()
		ok, seen := last[r.Service]
		last[r.Service] = r.OK
		mu.Unlock()
		switch {
		case !r.OK && (!seen || ok):
			log.Error("service check failed", "service", r.Service, "target", r.Target, "cause", r.Cause, "err", r.Error)
		case r.OK && seen && !ok:
			log.Info("service check ok again", "service", r.Service, "target", r.Target)
		}
	}
}
