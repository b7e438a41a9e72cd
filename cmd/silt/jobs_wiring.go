package main

import (
	"context"
	"fmt"
	"github.com/twmb/franz-go/pkg/kgo"
	"log/slog"
	"strings"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/web"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/jobs/retention"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/scheduler"
	reportsql "github.com/silt-etl/silt/sql"
)

// jobDeps is what jobs are built from; one of each per silt run.
type jobDeps struct {
	cfg     *config.Config
	store   lake.Store
	catalog *catalog.Lazy
	// registrar, when set, is what ingest and the register job commit
	// batches to instead of catalog: the Iceberg committer with
	// table_format iceberg (registrarFor).
	registrar ingest.Registrar
	// metrics are the ingest jobs' series, shared by all of them.
	metrics *ingest.Metrics
	reports map[string]*reportsql.Report
	log     *slog.Logger
	// kafka secures the ingest jobs' clients (kafka.tls, kafka.sasl).
	kafka []kgo.Opt
	// closers release what the jobs hold (ingest's consumer group membership).
	closers []func()
	// drains make running ingest batches end early when they hold nothing.
	drains []func()
}

// processName names this process among the silt processes sharing the
// lake: in job leases (who runs a cluster-wide job), the run history and
// the status page. kafka.instance_id when set (unique per process and
// stable across its restarts, as Kafka's static membership needs), else
// host-pid.
func processName(cfg *config.Config) string {
	if cfg.Kafka.InstanceID != "" {
		return cfg.Kafka.InstanceID
	}
	return scheduler.DefaultHolder()
}

// jobSpec takes the scheduling keys of a configured job. Every
// kind but ingest is cluster-wide: ingest drains the Kafka partitions the
// consumer group gave this process, so each process runs its own; reports
// (and their alerts), compaction, retention and catalog repair work on the
// whole lake, and two processes running them at once would only repeat
// (or race) the same work.
func jobSpec(j config.Job) scheduler.Spec {
	return scheduler.Spec{
		ClusterWide: clusterWideKind(j.Kind),
		Schedule:    j.Schedule,
		After:       j.After,
		Overlap:     j.Overlap,
		Retries:     j.Retries,
		RetryDelay:  j.RetryDelay.Std(),
		Catchup:     j.Catchup,
	}
}

// clusterWideKind reports whether jobs of a configured kind run on one
// process per slot (every kind but ingest).
func clusterWideKind(kind string) bool { return kind != "ingest" }

// buildJob makes the scheduled job for one configured job.
func (d *jobDeps) buildJob(j config.Job) (scheduler.Job, error) {
	switch j.Kind {
	case "ingest":
		opts := ingestOptions(d.cfg, d.kafka)
		opts.Name, opts.Logger, opts.Registrar, opts.Metrics = j.Name, d.log.With("job", j.Name), d.batchRegistrar(), d.metrics
		job := ingest.New(opts, d.store)
		d.closers = append(d.closers, job.Close)
		d.drains = append(d.drains, job.Drain)
		return job, nil
	case "register":
		return catalog.NewRegisterJob(j.Name, d.batchRegistrar(), d.store), nil
	case "report":
		if d.reports == nil {
			reports, err := reportsql.Load(d.cfg.Reports.Dir)
			if err != nil {
				return nil, err
			}
			d.reports = reports
		}
		r, ok := d.reports[j.Report]
		if !ok {
			return nil, fmt.Errorf("job %s: no report %q (have %s)", j.Name, j.Report, strings.Join(reportsql.Names(d.reports), ", "))
		}
		// A bad parameter fails now, at start-up, not at the first run; the
		// catalog is opened by the first run that finds it up.
		opts := report.JobOptions{
			Report: r, Params: j.Params, Catalog: d.catalog.Get, OutDir: d.cfg.Reports.Out, OnlyOnAlert: j.On == "alert",
			Notifier: report.NewNotifier(alertOptions(d.cfg)), Logger: d.log,
		}
		d.reportSinks(j, &opts, d.catalog)
		return report.NewJob(j.Name, opts)
	case "compact":
		if icebergTables(d.cfg) {
			return icebergCompactJob(j.Name, d.cfg, d.catalog.Get, d.log.With("job", j.Name), nil)
		}
		return compact.New(j.Name, compactOptions(d.cfg, d.log.With("job", j.Name)), d.store), nil
	case "retention":
		if icebergTables(d.cfg) {
			return icebergRetentionJob(j, d.cfg, d.catalog.Get, d.log.With("job", j.Name))
		}
		return retention.New(j.Name, d.store, d.catalog, j.Retention.Std(), d.log.With("job", j.Name))
	}
	return nil, fmt.Errorf("job %s: unknown kind %q", j.Name, j.Kind)
}

// reportSinks gives a report job its watermark, table (registered with
// reg) and topic, as configured.
func (d *jobDeps) reportSinks(j config.Job, opts *report.JobOptions, reg report.Registrar) {
	if w := j.Watermark; w != nil {
		opts.Watermark = &report.WatermarkOptions{AllowedLateness: w.AllowedLateness.Std(), Table: w.Table}
	}
	if t := j.Table; t != nil {
		in := d.cfg.Ingest
		opts.Table = &report.TableOptions{Name: t.Name, Store: d.store, Registrar: reg,
			Unit: lake.ParseTimeUnit(in.TimestampUnit), SpoolDir: in.SpoolDir, RowGroupBytes: int64(in.RowGroupBytes), ColumnIndexes: in.ColumnIndexes, Layout: layoutOf(d.cfg)}
	}
	if p := j.Publish; p != nil {
		k := d.cfg.Kafka
		opts.Publish = &report.PublishOptions{Topic: p.Topic, Key: p.Key, Store: d.store,
			Client:      append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...)}, d.kafka...),
			CreateTopic: k.CreateTopics, Partitions: k.Partitions}
	}
}

func (d *jobDeps) drain() {
	for _, f := range d.drains {
		f()
	}
}

func (d *jobDeps) close() {
	for _, c := range d.closers {
		c()
	}
}

// ingestLag is the status page's view of the consumer lag the ingest
// jobs saw at the end of their last batch (what /metrics shows), without
// asking Kafka again.
type ingestLag struct{ m *ingest.Metrics }

func (l ingestLag) Lag(context.Context) ([]web.PartitionLag, error) {
	lags := l.m.Lag()
	out := make([]web.PartitionLag, len(lags))
	for i, pl := range lags {
		out[i] = web.PartitionLag{Topic: pl.Topic, Partition: pl.Partition, Lag: pl.Lag}
	}
	return out, nil
}
