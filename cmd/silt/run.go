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
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/silt-etl/silt/internal/collect"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/internal/probe"
	"github.com/silt-etl/silt/internal/web"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
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

// embeddedPartitions is the partition count of the in-process broker's
// topics when kafka.partitions does not say.
const embeddedPartitions = 3

// runFlags are silt run's own flags.
type runFlags struct {
	common      commonFlags
	listen      string
	collect     bool
	stopTimeout time.Duration
}

func parseRunFlags(args []string) (*runFlags, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	f := &runFlags{}
	f.common.bind(fs)
	fs.StringVar(&f.listen, "listen", "", "status page, /metrics and /healthz address (default: http.listen; \"off\" disables)")
	jsonLogs := fs.Bool("json-logs", false, "log as JSON (same as --log-format json)")
	fs.BoolVar(&f.collect, "collect", false, "also serve the HTTP collector on collect.listen (always on in the embedded default)")
	fs.DurationVar(&f.stopTimeout, "stop-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long running jobs may take to finish before they are cancelled")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: silt run [flags]\n\n%s\nFlags:\n", runHelp)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, errUsage
	}
	if *jsonLogs {
		f.common.logFormat = "json"
	}
	return f, nil
}

// exitOnSecondSignal makes a second SIGINT/SIGTERM exit at once; the
// first (which also cancels ctx, see main) stops gracefully. Safe either
// way: ingest's pinned batches are replayed exactly on the next start.
// The returned func stops listening.
func exitOnSecondSignal() (stop func()) {
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigc
		<-sigc
		fmt.Fprintln(os.Stderr, "silt run: second signal, exiting now")
		os.Exit(130)
	}()
	return func() { signal.Stop(sigc) }
}

func runRun(ctx context.Context, args []string) error {
	f, err := parseRunFlags(args)
	if err != nil {
		return err
	}
	defer exitOnSecondSignal()()
	cfg, err := f.common.load()
	if err != nil {
		return err
	}
	if f.listen != "" {
		cfg.HTTP.Listen = f.listen
	}
	log := slog.Default()

	// genCtx ends the generator and the service checks at the first signal.
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	if cfg.Embedded {
		broker, err := startEmbedded(cfg)
		if err != nil {
			return err
		}
		defer broker.Close()
	}
	if cfg.Gen.Enabled {
		if err := startGenerator(genCtx, cfg, log); err != nil {
			return err
		}
	}
	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.close()
	go d.monitor.Run(genCtx)
	return d.serve(ctx, f, stopGen)
}

// runDaemon is silt run's pieces, wired: the lake, the jobs, the scheduler
// and the service checks.
type runDaemon struct {
	cfg       *config.Config
	log       *slog.Logger
	store     lake.Store
	deps      *jobDeps
	sched     *scheduler.Scheduler
	history   *scheduler.History // the scheduler's, read by the status page's charts
	monitor   *probe.Monitor
	eventsAPI http.Handler
	holder    string
}

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *runDaemon, err error) {
	store, err := openLake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	kafkaOpts, err := kafkaClientOpts(cfg)
	if err != nil {
		return nil, err
	}
	deps := &jobDeps{cfg: cfg, store: store, log: log, kafka: kafkaOpts, catalog: lazyCatalog(cfg, store, log),
		metrics: ingest.NewMetrics(prometheus.DefaultRegisterer)}
	d := &runDaemon{cfg: cfg, log: log, store: store, deps: deps, eventsAPI: eventsapi.NewOnDemand(deps.catalog.Get, log), holder: processName(cfg)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if _, err := deps.catalog.Get(ctx); err != nil {
		// Ingest still lands data in the lake; registration, reports and
		// the events API catch up once the catalog answers.
		log.Warn("catalog unavailable at start: ingest runs, registration and reports retry until it answers", "err", err)
	}
	reg, closeReg, err := registrarFor(ctx, cfg, store, deps.catalog, log)
	if err != nil {
		return nil, err
	}
	deps.registrar = reg
	deps.closers = append(deps.closers, closeReg)
	if d.sched, d.history, err = newScheduler(ctx, cfg, store, d.holder, log); err != nil {
		return nil, err
	}
	if err := addJobs(d.sched, deps, cfg.Jobs); err != nil {
		return nil, err
	}
	// The services are checked at start and every 30 s: a wrong password or
	// an untrusted certificate shows on /readyz and the status page with
	// its cause and key, and in one log line per change.
	probes, err := serviceProbes(cfg, store)
	if err != nil {
		return nil, err
	}
	d.monitor = probe.NewMonitor(probes, probe.MonitorOptions{Redact: cfg.Redact, OnResult: logConnectionChanges(log)})
	return d, nil
}

// newScheduler makes the scheduler over the lake's run history and leases.
// printRun's line is the one line per run on the console; the scheduler's
// own record of it is then at debug level (log.level: debug). Every job but
// ingest is cluster-wide (jobSpec): of the silt processes sharing this
// lake, one runs each slot of it, through a lease in the lake (see
// "Running more than one silt").
func newScheduler(ctx context.Context, cfg *config.Config, store lake.Store, holder string, log *slog.Logger) (*scheduler.Scheduler, *scheduler.History, error) {
	hist, err := scheduler.OpenHistory(ctx, store, 0)
	if err != nil {
		return nil, nil, err
	}
	loc, err := cfg.Scheduler.Location()
	if err != nil {
		return nil, nil, err
	}
	sched, err := scheduler.New(scheduler.Options{History: hist, Location: loc, Logger: log, OnRun: printRun,
		Leases: store, Holder: holder, LeaseTTL: cfg.Scheduler.LeaseTTL.Std()})
	return sched, hist, err
}

// close releases the jobs (ingest's group membership) and the catalog.
func (d *runDaemon) close() {
	d.deps.close()
	d.deps.catalog.Close()
}

// serve runs the servers and the schedule until a signal (ctx) or until
// the status server ends on its own, then stops gracefully.
func (d *runDaemon) serve(ctx context.Context, f *runFlags, stopGen func()) error {
	stopping, stop := context.WithCancel(ctx)
	defer stop()
	// The status server outlives the signal: /readyz says 503 and the page
	// shows the jobs finishing until they have.
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	var servers errgroup.Group
	if err := d.startHTTP(httpCtx, stopping, stop, &servers); err != nil {
		return err
	}
	if f.collect || d.cfg.Demo {
		if err := d.startCollector(stopping, &servers); err != nil {
			return err
		}
	}
	if err := d.sched.Start(ctx); err != nil {
		return err
	}
	d.log.Info("silt run started", "jobs", len(d.sched.Status()), "embedded", d.cfg.Embedded, "process", d.holder)

	<-stopping.Done()
	d.stopJobs(ctx, f.stopTimeout, stopGen)
	stopHTTP()
	_ = servers.Wait() // each server logs how it ended
	fmt.Fprintln(os.Stderr, "silt run: stopped")
	return nil
}

// startHTTP serves the status page, /metrics, /readyz and the events API
// on http.listen (nothing for "off") until httpCtx ends. A server that
// ends on its own calls stop: silt run does not go on without it.
func (d *runDaemon) startHTTP(httpCtx, stopping context.Context, stop func(), g *errgroup.Group) error {
	if d.cfg.HTTP.Listen == "" || d.cfg.HTTP.Listen == "off" {
		return nil
	}
	fresh, tables, dead, closeViews := opsViews(d.cfg, d.store, d.deps.metrics)
	lag := ingestLag{d.deps.metrics}
	jobNames := make([]string, 0, len(d.cfg.Jobs))
	for _, j := range d.cfg.Jobs {
		jobNames = append(jobNames, j.Name)
	}
	// The charts' first sample rebuilds the last hour's rates and
	// durations from the run history.
	charts := web.NewTimeSeries(web.TimeSeriesOptions{JobNames: jobNames, History: d.history, Lag: lag, Freshness: fresh})
	srv := web.New(web.Options{
		Jobs: d.sched, Tables: web.LakeTables{Store: d.store, Iceberg: icebergTables(d.cfg)}, Lag: lag, ReportsDir: d.cfg.Reports.Out,
		Freshness: fresh, TableStats: tables, DeadLetters: dead, Charts: charts,
		Ready: d.ready, Connections: d.monitor.Results, Logger: d.log,
	})
	srv.Handle("GET /api/events/", d.eventsAPI)
	ln, err := net.Listen("tcp", d.cfg.HTTP.Listen)
	if err != nil {
		closeViews()
		return fmt.Errorf("listen on %s (http.listen, or --listen): %w", d.cfg.HTTP.Listen, err)
	}
	fmt.Fprintf(os.Stdout, "silt run: status page http://%s/ (metrics at /metrics)\n", ln.Addr())
	g.Go(func() error { return charts.Run(httpCtx) })
	g.Go(func() error {
		defer closeViews()
		err := srv.Serve(httpCtx, ln)
		switch {
		case stopping.Err() == nil:
			if err != nil {
				d.log.Error("http server failed; stopping", "err", err)
			}
			stop()
		case err != nil:
			d.log.Warn("http server", "err", err)
		}
		return nil
	})
	return nil
}

// ready answers /readyz: the scheduler is not stopping and every service
// check passes.
func (d *runDaemon) ready() error {
	if err := d.sched.Ready(); err != nil {
		return err
	}
	return d.monitor.Ready()
}

// startCollector serves the collector (and the events API) until ctx ends,
// then drains it: in-flight requests finish and buffered records flush.
func (d *runDaemon) startCollector(ctx context.Context, g *errgroup.Group) error {
	opts := collect.Options{Registerer: prometheus.DefaultRegisterer, Metrics: promhttp.Handler(), API: d.eventsAPI, Logger: d.log}
	col, ln, err := listenCollector(ctx, d.cfg, opts)
	if err != nil {
		return err
	}
	routes := make([]string, 0, len(d.cfg.Collect.Routes))
	for path := range d.cfg.Collect.Routes {
		routes = append(routes, path)
	}
	sort.Strings(routes)
	fmt.Fprintf(os.Stdout, "silt run: collector http://%s/ (POST %s; GET %s)\n", ln.Addr(),
		strings.Join(d.cfg.Collect.PostPaths, ", "), strings.Join(routes, ", "))
	g.Go(func() error {
		if err := col.Serve(ctx, ln); err != nil {
			d.log.Warn("collector", "err", err)
		}
		return nil
	})
	return nil
}

// stopJobs stops scheduling and lets running jobs finish, cancelling them
// after timeout; ingest batches that hold nothing end at once.
func (d *runDaemon) stopJobs(ctx context.Context, timeout time.Duration, stopGen func()) {
	running := 0
	for _, j := range d.sched.Status() {
		if j.Running {
			running++
		}
	}
	fmt.Fprintf(os.Stderr, "silt run: stopping: waiting for %d running jobs (a second signal exits at once)\n", running)
	stopGen()
	d.deps.drain()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := d.sched.Stop(stopCtx); err != nil {
		// The cancelled batch is replayed exactly on the next start.
		d.log.Warn("jobs did not finish in time and were cancelled", "err", err)
	}
}

// startEmbedded starts the in-process broker and points cfg at it. The
// broker keeps its log beside the lake (<lake.root>/_kafka), so a restart
// resumes from the committed offsets.
func startEmbedded(cfg *config.Config) (*embedded.Broker, error) {
	dataDir := filepath.Join(cfg.Lake.Root, "_kafka")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded broker data dir: %w", err)
	}
	// The well-known port lets `silt gen` and `silt ingest` without a
	// config find this broker; when it is taken, any free port will do.
	// The topics get kafka.partitions partitions (3 by default), as
	// topics.Ensure makes them on a real Kafka.
	partitions := cfg.Kafka.Partitions
	if partitions < 1 {
		partitions = embeddedPartitions
	}
	broker, err := embedded.StartBroker(embeddedPort(), dataDir, cfg.Kafka.Topics, partitions)
	if err != nil {
		broker, err = embedded.StartBroker(0, dataDir, cfg.Kafka.Topics, partitions)
	}
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = broker.Addrs()
	// Loud on purpose: someone who meant a real Kafka must see at once
	// that this is the demo broker (set kafka.brokers or SILT_KAFKA_BROKERS).
	fmt.Fprintf(os.Stderr, "silt run: EMBEDDED demo Kafka broker on %s (kafka.brokers names no real Kafka; set it or SILT_KAFKA_BROKERS for one)\n", strings.Join(cfg.Kafka.Brokers, ","))
	return broker, nil
}

// startGenerator sends synthetic game events to the first of kafka.topics
// until ctx ends: on in the no-config demo, otherwise only when
// gen.enabled asks for it; gen.rate 0 sends none.
func startGenerator(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	conn, err := kafkaClientOpts(cfg)
	if err != nil {
		return err
	}
	if cfg.Gen.Rate <= 0 {
		fmt.Fprintln(os.Stdout, "silt run: generator off: gen.rate is 0")
		return nil
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Kafka.Brokers...)}, conn...)
	topic := cfg.Kafka.Topics[0]
	fmt.Fprintf(os.Stdout, "silt run: generating %g events/s of synthetic game events to %q on %s (gen.enabled, gen.rate)\n", cfg.Gen.Rate, topic, strings.Join(cfg.Kafka.Brokers, ","))
	go func() {
		if err := embedded.Generate(ctx, log, opts, topic, cfg.Gen.Rate, cfg.Gen.Hosts, cfg.Gen.EventTypes); err != nil {
			log.Error("event generator stopped", "err", err)
		}
	}()
	return nil
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
