//go:build integration

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "github.com/trinodb/trino-go-client/trino" // the "trino" database/sql driver
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/scheduler"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestRunE2EOutagesUnderLoad runs three `silt run` processes on one lake
// and one consumer group while events flow at a steady rate, and takes the
// services away one after the other: MinIO for 30 s, the Kafka broker for
// 30 s, Trino for 30 s, then one silt process is SIGKILLed (the one that
// last ran the report) and another SIGTERMed, both restarted later, while
// the third keeps running. A reader counts every table through Trino every
// second throughout. When the load ends and everything has caught up:
// every produced event is in the lake exactly once, the schema holds the
// column that appeared mid-test, each cluster-wide job ran at most once
// per tick, Trino's counts match the lake, nothing was written outside the
// lake's prefix, and the reader never saw more rows than were produced.
// The timings it logs (lag, catch-up) are measurements, not assertions.
func TestRunE2EOutagesUnderLoad(t *testing.T) {
	ep := stacktest.Get(t)
	services := stacktest.Stack(t)
	ctx := context.Background()
	o := newOutageWorld(t, ep)

	o.load.start(ctx)
	o.reader.start(ctx)
	o.monitor.start(ctx)
	t.Cleanup(o.stopBackground)
	for i := range o.procs {
		o.procs[i] = o.startSilt(t, i)
	}
	o.waitFor(t, "every process ingesting and a first report run", 3*time.Minute, func() bool {
		return o.reportRuns() > 0 && o.allIngested()
	})

	// A new column appears while MinIO is away: the schema change waits
	// for the lake like everything else.
	o.outage(t, "minio down 30s", func() {
		o.load.newColumn.Store(true)
		require.NoError(t, services.StopService(ctx, "minio", 20*time.Second))
	}, func() { require.NoError(t, startService(services, "minio")) })
	o.outage(t, "kafka down 30s", func() {
		require.NoError(t, services.StopService(ctx, "kafka", 20*time.Second))
	}, func() { require.NoError(t, startService(services, "kafka")) })
	o.outage(t, "trino down 30s", func() {
		require.NoError(t, services.StopService(ctx, "trino", 20*time.Second))
	}, func() { require.NoError(t, startService(services, "trino")) })
	o.killAndRestart(t)

	time.Sleep(10 * time.Second)
	o.load.stop()
	require.NoError(t, o.load.err(), "producing")
	o.phase("drain")
	o.waitFor(t, "the group to drain every produced event", 5*time.Minute, func() bool {
		lag, err := o.monitor.lag(ctx)
		return err == nil && lag == 0
	})
	o.stopBackground()
	o.checkEverything(t)
}

// outageWorld is the test's topic, lake, processes and background loops.
type outageWorld struct {
	ep            *stack.Endpoints
	topic, schema string
	catalog       string
	dir, cfg      string
	store         *lake.S3
	env           []string
	procs         [3]*siltrun.Daemon
	// down marks a process the test stopped on purpose, until it restarts
	// it: waitFor does not take its exit for a failure.
	down         [3]bool
	bucketBefore map[string]bool // keys outside our prefix before the test

	load    *steadyLoad
	reader  *countReader
	monitor *lagMonitor
	stopBG  sync.Once
	results []phaseResult
}

// The cluster-wide jobs of the test's config and the report among them.
var outageClusterJobs = []string{"counts", "repair", "compact", "retention"}

const outageReport = "counts"

// outageEventTypes are the load's event types: its tables.
var outageEventTypes = []string{"purchase_sword", "join_guild", "default"}

func newOutageWorld(t *testing.T, ep *stack.Endpoints) *outageWorld {
	t.Helper()
	topic := fmt.Sprintf("outage-%d", time.Now().UnixNano()%1e9)
	createTopic(t, ep, topic, 6)
	store, err := lake.NewS3(context.Background(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: topic, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	bucket, err := lake.NewS3(context.Background(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	o := &outageWorld{ep: ep, topic: topic, schema: strings.ReplaceAll(topic, "-", "_"), store: store,
		catalog: ep.TrinoCatalog, dir: t.TempDir(), bucketBefore: map[string]bool{}}
	// The Hive Metastore catalog when the stack runs one: the production shape.
	if ep.TrinoMetastoreCatalog != "" {
		o.catalog = ep.TrinoMetastoreCatalog
	}
	objs, err := bucket.List(context.Background(), "")
	require.NoError(t, err)
	for _, obj := range objs {
		o.bucketBefore[obj.Key] = true
	}
	o.cfg = filepath.Join(o.dir, "silt.yaml")
	require.NoError(t, os.WriteFile(o.cfg, []byte(`scheduler:
  lease_ttl: 15s
jobs:
  - {name: ingest, kind: ingest, schedule: "@every 2s", retries: 2, retry_delay: 1s}
  - {name: counts, kind: report, report: event_counts_by_window, schedule: "@every 10s"}
  - {name: repair, kind: register, schedule: "@every 20s"}
  - {name: compact, kind: compact, schedule: "@every 20s"}
  - {name: retention, kind: retention, schedule: "@every 30s", retention: 720h}
`), 0o644))
	o.env = append(envWithout("SILT_"), ep.Env()...)
	o.env = append(o.env,
		"SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP="+topic, "SILT_S3_PREFIX="+topic,
		"SILT_KAFKA_SESSION_TIMEOUT=6s", "SILT_TRINO_SCHEMA="+o.schema, "SILT_TRINO_CATALOG="+o.catalog,
		"SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_TRINO_LOCATION=s3://"+ep.S3Bucket+"/"+topic+"/",
		"SILT_INGEST_MAX_RECORDS=20000",
	)
	o.load = newSteadyLoad(t, ep.KafkaBrokers, topic, 300)
	o.reader = &countReader{catalog: o.catalog, schema: o.schema, load: o.load}
	db, err := sql.Open("trino", ep.TrinoURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	o.reader.db = db
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	o.monitor = &lagMonitor{adm: kadm.NewClient(cl), group: topic, topic: topic, max: map[string]int64{}}
	return o
}

// startSilt starts process i (0-based) as silt-<i+1>, in a working
// directory of its own: checkEverything looks there for stray files.
func (o *outageWorld) startSilt(t *testing.T, i int) *siltrun.Daemon {
	t.Helper()
	wd := filepath.Join(o.dir, fmt.Sprintf("silt-%d", i+1))
	require.NoError(t, os.MkdirAll(wd, 0o755))
	env := append(append([]string{}, o.env...),
		fmt.Sprintf("SILT_KAFKA_INSTANCE_ID=silt-%d", i+1),
		"SILT_REPORTS_OUT="+filepath.Join(wd, "reports"), "SILT_INGEST_SPOOL_DIR="+filepath.Join(wd, "spool"))
	require.NoError(t, os.MkdirAll(filepath.Join(wd, "spool"), 0o755))
	d := siltrun.Start(t, wd, env, "--config", o.cfg)
	d.StatusURL(t)
	return d
}

func (o *outageWorld) stopBackground() {
	o.stopBG.Do(func() {
		o.load.stop()
		o.reader.stop()
		o.monitor.stop()
	})
}

func (o *outageWorld) phase(name string) { o.monitor.setPhase(name) }

// waitFor polls cond, failing when a silt process exited or bound passed.
func (o *outageWorld) waitFor(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		for i, d := range o.procs {
			if o.down[i] {
				continue
			}
			if exited, err := d.Exited(); exited {
				t.Fatalf("silt-%d exited (%v) before %s:\n%s", i+1, err, what, d.Output())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, bound)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (o *outageWorld) allIngested() bool {
	for _, d := range o.procs {
		if !strings.Contains(d.Output(), " ingest ") {
			return false
		}
	}
	return true
}

// startService starts a stopped stack service, bounded: Trino takes the
// longest on two busy cores.
func startService(s *stack.Stack, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return s.StartService(ctx, name)
}

// phaseResult is what one outage measured.
type phaseResult struct {
	name              string
	down, catchUp     time.Duration
	maxLag            int64
	producedAtRestart int64
}

// outage takes a service away for 30 s under load and brings it back;
// catch-up is the time from the restart until the group has committed
// everything that was in the topic at that moment.
func (o *outageWorld) outage(t *testing.T, name string, stop, start func()) {
	t.Helper()
	o.phase(name)
	began := time.Now()
	stop()
	time.Sleep(30 * time.Second)
	start()
	restarted := time.Now()
	o.catchUp(t, name, began, restarted)
}

func (o *outageWorld) catchUp(t *testing.T, name string, began, restarted time.Time) {
	t.Helper()
	var target map[int32]int64
	o.waitFor(t, "end offsets after "+name, 3*time.Minute, func() bool {
		var err error
		target, err = o.monitor.endOffsets(context.Background())
		return err == nil
	})
	o.waitFor(t, "catch-up after "+name, 5*time.Minute, func() bool {
		committed, err := o.monitor.committed(context.Background())
		if err != nil {
			return false
		}
		for p, end := range target {
			if committed[p] < end {
				return false
			}
		}
		return true
	})
	r := phaseResult{name: name, down: restarted.Sub(began).Round(time.Second), catchUp: time.Since(restarted).Round(time.Second),
		maxLag: o.monitor.maxOf(name), producedAtRestart: o.load.sentTotal()}
	o.results = append(o.results, r)
	t.Logf("%s: down %s, max lag %d, caught up %s after the restart (%d events produced by then)",
		r.name, r.down, r.maxLag, r.catchUp, r.producedAtRestart)
}

// killAndRestart SIGKILLs the process that last ran the report (so that
// its lease must be handed over) and SIGTERMs another; the third keeps
// running. The killed one stays away longer than the lease's TTL plus a
// tick, so another process must run the report meanwhile.
func (o *outageWorld) killAndRestart(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	const name = "silt kill -9 + SIGTERM"
	o.phase(name)
	lease, ok, err := scheduler.ReadLease(ctx, o.store, outageReport)
	require.NoError(t, err)
	require.True(t, ok, "the report has never taken its lease")
	killed := -1
	for i := range o.procs {
		if lease.Holder == fmt.Sprintf("silt-%d", i+1) {
			killed = i
		}
	}
	require.NotEqual(t, -1, killed, "lease holder %q is none of the processes", lease.Holder)
	termed := (killed + 1) % 3
	began := time.Now()
	o.down[killed] = true
	require.NoError(t, o.procs[killed].Signal(syscall.SIGKILL))
	waited := o.procs[killed].Wait() // "signal: killed"
	o.procs[termed].Stop(t)
	t.Logf("%s: killed silt-%d (held the %s lease; %v), stopped silt-%d", name, killed+1, outageReport, waited, termed+1)

	time.Sleep(5 * time.Second)
	o.procs[termed] = o.startSilt(t, termed)
	// The dead holder's lease expires (lease_ttl 15 s) and a later tick
	// runs elsewhere; only then does the killed process come back.
	dead := fmt.Sprintf("silt-%d", killed+1)
	o.waitFor(t, fmt.Sprintf("a run of %s by another process than the killed %s", outageReport, dead), 3*time.Minute, func() bool {
		return o.runsOf(outageReport, began, dead) > 0
	})
	o.procs[killed] = o.startSilt(t, killed)
	o.down[killed] = false
	o.catchUp(t, name, began, time.Now())
}

// runsOf counts job's runs scheduled after since by processes other than not.
func (o *outageWorld) runsOf(job string, since time.Time, not string) int {
	h, err := scheduler.OpenHistory(context.Background(), o.store, 0)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range h.Last(job, 1000) {
		if r.Scheduled.After(since) && r.Process != not && r.Attempts > 0 {
			n++
		}
	}
	return n
}

func (o *outageWorld) reportRuns() int {
	h, err := scheduler.OpenHistory(context.Background(), o.store, 0)
	if err != nil {
		return 0
	}
	return len(h.Last(outageReport, 1000))
}

// checkEverything is the end state, once the group has drained.
func (o *outageWorld) checkEverything(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, d := range o.procs {
		d.Stop(t)
	}
	produced := o.load.ackedByType()
	var total int64
	for _, n := range produced {
		total += n
	}

	// Exactly once, by (topic, partition, offset).
	rep := checkLake(t, o.store)
	require.Zero(t, rep.Duplicates, "rows with a (topic, partition, offset) seen before")
	require.Equal(t, total, rep.Distinct, "distinct offsets against acknowledged events")
	require.Equal(t, total, rep.Total)
	for typ, n := range produced {
		require.Equal(t, n, rep.Rows[typ], "rows of %s", typ)
	}
	require.Zero(t, rep.Rows[lake.DeadLetterTable], "dead letters")

	// The column that appeared while MinIO was down is in the schema and
	// in Trino's view of the table.
	s, ok, err := lake.LoadSchema(ctx, o.store, "join_guild")
	require.NoError(t, err)
	require.True(t, ok)
	require.Contains(t, columnNames(s.AllColumns()), "guild_rank")

	// Trino matches the lake (the repair job registers what batches could
	// not while Trino was down).
	var trinoCounts map[string]int64
	deadline := time.Now().Add(3 * time.Minute)
	for {
		trinoCounts = o.reader.countAll(ctx)
		if equalCounts(trinoCounts, produced) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	require.Equal(t, produced, trinoCounts, "Trino's counts against the lake's")
	cols, err := o.reader.columns(ctx, "join_guild")
	require.NoError(t, err)
	require.Contains(t, cols, "guild_rank", "Trino's join_guild")

	// Each cluster-wide job ran at most once per tick, and the report ran.
	// A run ran when it made an attempt: a process that could not take the
	// lease (the lake was down) records the tick as failed, "not run", with
	// no attempt; an overlap is recorded as skipped.
	h, err := scheduler.OpenHistory(ctx, o.store, 0)
	require.NoError(t, err)
	handovers := 0
	for _, job := range outageClusterJobs {
		runs := h.Last(job, 1000)
		perTick := map[time.Time][]string{}
		last := ""
		notRun := 0
		for _, r := range runs {
			if r.Status == scheduler.StatusSkipped {
				continue
			}
			if r.Attempts == 0 {
				notRun++
				continue
			}
			perTick[r.Scheduled] = append(perTick[r.Scheduled], r.Process)
			if last != "" && r.Process != last {
				handovers++
			}
			last = r.Process
		}
		for tick, by := range perTick {
			require.Len(t, by, 1, "%s ran more than once for the tick %s: %v", job, tick, by)
		}
		t.Logf("%s: %d ticks ran, %d not run for want of the lake (per process)", job, len(perTick), notRun)
	}
	require.Greater(t, len(h.Last(outageReport, 1000)), 10, "report runs")

	// Nothing outside the lake's prefix in the bucket; nothing in the
	// processes' working directories but reports and the spool.
	bucket, err := lake.NewS3(ctx, lake.S3Options{Endpoint: o.ep.S3Endpoint, Bucket: o.ep.S3Bucket, Region: o.ep.S3Region,
		AccessKey: o.ep.S3AccessKey, SecretKey: o.ep.S3SecretKey, PathStyle: true})
	require.NoError(t, err)
	objs, err := bucket.List(ctx, "")
	require.NoError(t, err)
	for _, obj := range objs {
		if !strings.HasPrefix(obj.Key, o.topic+"/") && !o.bucketBefore[obj.Key] {
			t.Errorf("written outside the lake root: %s", obj.Key)
		}
	}
	for i := range o.procs {
		wd := filepath.Join(o.dir, fmt.Sprintf("silt-%d", i+1))
		require.NoError(t, filepath.WalkDir(wd, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(wd, path)
			if !strings.HasPrefix(rel, "reports"+string(filepath.Separator)) && !strings.HasPrefix(rel, "spool"+string(filepath.Separator)) {
				t.Errorf("silt-%d wrote %s outside the lake, its reports and its spool", i+1, rel)
			}
			return nil
		}))
	}

	// The reader never saw more than had been produced.
	rs := o.reader.summary()
	require.Empty(t, rs.overCounts, "Trino counts above what had been produced")
	require.Positive(t, rs.ok, "reader queries that answered")
	t.Logf("produced %d events (%v); reader: %d counts read, %d failed (services down), 0 above produced; %d lease handovers",
		total, produced, rs.ok, rs.failed, handovers)
	for _, r := range o.results {
		t.Logf("outage %-24s down %-5s max lag %-6d catch-up %s", r.name, r.down, r.maxLag, r.catchUp)
	}
}

func columnNames(cols []lake.Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// steadyLoad produces game events at a fixed rate, asynchronously, so a
// Kafka outage buffers them rather than stopping the clock. Sent counts
// go up before a record is handed to the client: they bound what any
// reader may see.
type steadyLoad struct {
	cl        *kgo.Client
	rate      int
	newColumn atomic.Bool

	mu    sync.Mutex
	sent  map[string]int64
	acked map[string]int64
	errs  []error

	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup // records in flight
}

func newSteadyLoad(t *testing.T, brokers []string, topic string, rate int) *steadyLoad {
	t.Helper()
	// AlwaysRetryEOF: a broker that restarts cuts connections mid-request,
	// which franz-go otherwise takes for a SASL misconfiguration and fails
	// the records; an app producing through an outage retries them.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.MaxBufferedRecords(1_000_000), kgo.ProducerLinger(5*time.Millisecond), kgo.AlwaysRetryEOF())
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &steadyLoad{cl: cl, rate: rate, sent: map[string]int64{}, acked: map[string]int64{}, done: make(chan struct{})}
}

func (l *steadyLoad) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	go func() {
		defer close(l.done)
		g := gen.NewEvents(42, nil, outageEventTypes)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := max(1, l.rate/100)
		for i := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range perTick {
				i++
				ev := g.Next(nil, time.Now().UTC())
				value := ev.JSON
				if ev.Type == "join_guild" && l.newColumn.Load() {
					value = append([]byte(fmt.Sprintf(`{"guild_rank":%d,`, i)), value[1:]...)
				}
				l.mu.Lock()
				l.sent[ev.Type]++
				l.mu.Unlock()
				l.wg.Add(1)
				l.cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					defer l.wg.Done()
					l.mu.Lock()
					defer l.mu.Unlock()
					if err != nil {
						l.errs = append(l.errs, err)
						return
					}
					l.acked[ev.Type]++
				})
			}
		}
	}()
}

// stop ends the load and waits for every record to be acknowledged.
func (l *steadyLoad) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
	l.wg.Wait()
}

func (l *steadyLoad) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

func (l *steadyLoad) sentOf(typ string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[typ]
}

func (l *steadyLoad) sentTotal() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, v := range l.sent {
		n += v
	}
	return n
}

func (l *steadyLoad) ackedByType() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// countReader counts each table through Trino every second, as a
// dashboard would, and keeps every count above what had been produced of
// that event type by the time the count came back.
type countReader struct {
	db              *sql.DB
	catalog, schema string
	load            *steadyLoad

	loop       everySecond
	mu         sync.Mutex
	ok, failed int
	overCounts []string
}

func (r *countReader) start(ctx context.Context) { r.loop.start(ctx, r.countEach) }

func (r *countReader) stop() { r.loop.stop() }

// countEach counts every table once.
func (r *countReader) countEach(ctx context.Context) {
	for _, typ := range outageEventTypes {
		n, err := r.count(ctx, typ)
		bound := r.load.sentOf(typ) // read after the count: an upper bound at that moment
		r.mu.Lock()
		switch {
		case err != nil:
			r.failed++
		case n > bound:
			r.overCounts = append(r.overCounts, fmt.Sprintf("%s: %d rows seen, %d produced", typ, n, bound))
			r.ok++
		default:
			r.ok++
		}
		r.mu.Unlock()
	}
}

func (r *countReader) count(ctx context.Context, table string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var n int64
	err := r.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %q.%q.%q`, r.catalog, r.schema, table)).Scan(&n)
	return n, err
}

// countAll is every event table's count; a table Trino cannot count is left out.
func (r *countReader) countAll(ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	for _, typ := range outageEventTypes {
		if n, err := r.count(ctx, typ); err == nil && n > 0 {
			out[typ] = n
		}
	}
	return out
}

func (r *countReader) columns(ctx context.Context, table string) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, fmt.Sprintf(`SHOW COLUMNS FROM %q.%q.%q`, r.catalog, r.schema, table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var name, typ, extra, comment string
		if err := rows.Scan(&name, &typ, &extra, &comment); err != nil {
			return nil, err
		}
		cols = append(cols, name)
	}
	return cols, rows.Err()
}

type readerSummary struct {
	ok, failed int
	overCounts []string
}

func (r *countReader) summary() readerSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return readerSummary{ok: r.ok, failed: r.failed, overCounts: append([]string{}, r.overCounts...)}
}

// lagMonitor reads the group's lag every second and keeps the largest
// per phase; while Kafka is down there is nothing to read.
type lagMonitor struct {
	adm          *kadm.Client
	group, topic string

	loop  everySecond
	mu    sync.Mutex
	phase string
	max   map[string]int64
}

func (m *lagMonitor) start(ctx context.Context) {
	m.loop.start(ctx, func(ctx context.Context) {
		if lag, err := m.lag(ctx); err == nil {
			m.mu.Lock()
			m.max[m.phase] = max(m.max[m.phase], lag)
			m.mu.Unlock()
		}
	})
}

func (m *lagMonitor) stop() { m.loop.stop() }

func (m *lagMonitor) setPhase(p string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phase = p
}

func (m *lagMonitor) maxOf(p string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.max[p]
}

func (m *lagMonitor) endOffsets(ctx context.Context) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := m.adm.ListEndOffsets(ctx, m.topic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

func (m *lagMonitor) committed(ctx context.Context) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	offs, err := m.adm.FetchOffsets(ctx, m.group)
	if err != nil {
		return nil, err
	}
	if err := offs.Error(); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == m.topic {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// lag is end offsets minus committed offsets over the topic's partitions.
func (m *lagMonitor) lag(ctx context.Context) (int64, error) {
	var g errgroup.Group
	var ends, committed map[int32]int64
	g.Go(func() (err error) { ends, err = m.endOffsets(ctx); return err })
	g.Go(func() (err error) { committed, err = m.committed(ctx); return err })
	if err := g.Wait(); err != nil {
		return 0, err
	}
	var lag int64
	for p, end := range ends {
		lag += end - max(committed[p], 0)
	}
	return lag, nil
}

// everySecond runs a function once a second in its own goroutine until
// stopped: the reader's and the lag monitor's loop.
type everySecond struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (e *everySecond) start(ctx context.Context, fn func(context.Context)) {
	ctx, e.cancel = context.WithCancel(ctx)
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			fn(ctx)
		}
	}()
}

// stop ends the loop and waits for its last round; a loop never started
// has nothing to stop.
func (e *everySecond) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
}
