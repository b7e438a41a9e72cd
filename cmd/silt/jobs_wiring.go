package main

import (
	"context"
	"fmt"
	"github.com/twmb/franz-go/pkg/kgo"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	catalog *catalogConn
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
		opts.Name, opts.Logger, opts.Registrar = j.Name, d.log.With("job", j.Name), d.catalog
		job := ingest.New(opts, d.store)
		d.closers = append(d.closers, job.Close)
		d.drains = append(d.drains, job.Drain)
		return job, nil
	case "register":
		return &registerJob{name: j.Name, cat: d.catalog, store: d.store}, nil
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
		// A bad parameter fails now, at start-up, not at the first run.
		if _, err := r.Values(j.Params, time.Now()); err != nil {
			return nil, fmt.Errorf("job %s: %w", j.Name, err)
		}
		return &catalogReportJob{name: j.Name, conn: d.catalog, build: func(cat *catalog.Catalog) (*report.Job, error) {
			return report.NewJob(j.Name, r, j.Params, cat, d.cfg.Reports.Out, report.NewNotifier(alertOptions(d.cfg)))
		}}, nil
	case "compact":
		return compact.New(j.Name, compactOptions(d.cfg, d.log.With("job", j.Name)), d.store), nil
	case "retention":
		return retention.New(j.Name, d.store, d.catalog, j.Retention.Std())
	}
	return nil, fmt.Errorf("job %s: unknown kind %q", j.Name, j.Kind)
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

// registerJob registers every table and partition found in the lake; it
// repairs whatever an ingest batch could not register.
type registerJob struct {
	name  string
	cat   *catalogConn
	store lake.Store
}

// catalogReportJob makes its report job on the first run that finds the
// catalog open, so a catalog that is down at start-up delays reports (the
// scheduler retries and records the failure) rather than leaving them out.
type catalogReportJob struct {
	name  string
	conn  *catalogConn
	build func(*catalog.Catalog) (*report.Job, error)

	mu  sync.Mutex
	job *report.Job
}

func (j *catalogReportJob) Name() string { return j.name }

func (j *catalogReportJob) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	j.mu.Lock()
	job := j.job
	if job == nil {
		cat, err := j.conn.get(ctx)
		if err != nil {
			j.mu.Unlock()
			return nil, fmt.Errorf("report %s: %w", j.name, err)
		}
		if job, err = j.build(cat); err != nil {
			j.mu.Unlock()
			return nil, err
		}
		j.job = job
	}
	j.mu.Unlock()
	return job.Run(ctx, scheduledAt)
}

func (j *registerJob) Name() string { return j.name }

func (j *registerJob) Run(ctx context.Context, _ time.Time) (map[string]int64, error) {
	if err := j.cat.RepairAll(ctx, j.store); err != nil {
		return nil, err
	}
	tables, err := lake.Tables(ctx, j.store)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"tables": int64(len(tables))}, nil
}

// lakeTables lists tables for the status page from the lake itself, so a
// page refresh costs object listings, not engine queries.
type lakeTables struct{ store lake.Store }

func (l lakeTables) Tables(ctx context.Context) ([]web.TableInfo, error) {
	names, err := lake.Tables(ctx, l.store)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make([]web.TableInfo, 0, len(names))
	for _, n := range names {
		ps, err := lake.Partitions(ctx, l.store, n)
		if err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", n, err)
		}
		info := web.TableInfo{Name: n, Partitions: len(ps)}
		if len(ps) > 0 {
			sort.Slice(ps, func(a, b int) bool { return ps[a].String() < ps[b].String() })
			info.Latest = strings.TrimPrefix(ps[len(ps)-1].String(), n+"/")
		}
		out = append(out, info)
	}
	return out, nil
}

// metricsLag reads consumer lag per partition from the ingest job's gauge,
// so the status page shows what /metrics shows without asking Kafka again.
type metricsLag struct{ g prometheus.Gatherer }

func (m metricsLag) Lag(context.Context) ([]web.PartitionLag, error) {
	fams, err := m.g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var out []web.PartitionLag
	for _, f := range fams {
		if f.GetName() != "silt_ingest_consumer_lag" {
			continue
		}
		for _, mt := range f.GetMetric() {
			var pl web.PartitionLag
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "topic":
					pl.Topic = l.GetValue()
				case "partition":
					p, _ := strconv.ParseInt(l.GetValue(), 10, 32)
					pl.Partition = int32(p)
				}
			}
			pl.Lag = int64(mt.GetGauge().GetValue())
			out = append(out, pl)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Topic != out[b].Topic {
			return out[a].Topic < out[b].Topic
		}
		return out[a].Partition < out[b].Partition
	})
	return out, nil
}
