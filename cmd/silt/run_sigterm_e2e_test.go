//go:build integration

package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestRunE2ESigtermUnderLoadExactlyOnce stops `silt run` with SIGTERM
// again and again while ingest batches run against real Kafka and MinIO;
// every stop must exit 0, and in the end the lake holds every event
// exactly once. The last daemon's /metrics must count exactly what it
// added to the lake: rows per table, events, bytes in and out, files,
// one duration observation per batch, and a zero lag gauge per partition
// once caught up.
func TestRunE2ESigtermUnderLoadExactlyOnce(t *testing.T) {
	const n = 150_000
	ep := stacktest.Get(t)
	// Small batches: many commit points for the signals to land between and in.
	setup := newSignalDaemonSetup(t, ep, "run-sigterm", "log:\n  format: json\n",
		"SILT_INGEST_MAX_RECORDS=6000", "SILT_INGEST_TARGET_FILE_BYTES=1MB")
	topic, store, dir, cfg, env := setup.topic, setup.store, setup.dir, setup.cfg, setup.env
	counts := stacktest.Produce(t, ep.KafkaBrokers, topic, n, 9)

	rng := rand.New(rand.NewPCG(5, 6))
	midBatch := 0
	for cycle := 1; cycle <= 8 && stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic) > 0; cycle++ {
		d := siltrun.Start(t, dir, env, "--config", cfg)
		d.StatusURL(t)
		d.WaitFor(t, "a first ingest run", 2*time.Minute, func() bool { return strings.Contains(d.Output(), " ingest ") })
		time.Sleep(time.Duration(100+rng.IntN(1500)) * time.Millisecond) // a random point of the next batches
		d.Stop(t)
		if strings.Contains(d.Output(), "waiting for 1 running jobs") {
			midBatch++
		}
		t.Logf("cycle %d: lag %d after SIGTERM", cycle, stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic))
	}
	require.Positive(t, midBatch, "no SIGTERM landed during a batch")

	// Records that are not events, for the last daemon: its counters must
	// count their dead letters once, under the dead-letter table.
	const bad = 37
	produceValues(t, ep.KafkaBrokers, topic, bad, func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf(`{"event_type": "purchase_sword", "price": %d`, i) // cut short
		}
		return fmt.Sprintf("not json %d", i)
	})

	// What the lake holds now, then one more daemon that drains the rest.
	before := snapLake(t, store)
	d := siltrun.Start(t, dir, env, "--config", cfg)
	url := d.StatusURL(t)
	d.WaitFor(t, "the topic drained", 5*time.Minute, func() bool { return stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic) == 0 })
	// One scrape taken when no batch is between its counters: the rows of
	// the drained topic are counted, every partition's lag gauge is 0, and
	// the batch counters agree with each other.
	var m ingestMetricsPage
	d.WaitFor(t, "metrics of the drained topic, counted consistently", time.Minute, func() bool {
		m = scrapeIngest(t, url, topic)
		return m.rowsSum() >= float64(n+bad-before.rep.Total) && m.caughtUp(4) && m.consistent()
	})
	d.Stop(t)

	after := snapLake(t, store)
	require.Zero(t, after.rep.Duplicates, "rows with a (topic, partition, offset) seen before")
	require.Equal(t, int64(n+bad), after.rep.Distinct)
	require.Equal(t, int64(n+bad), after.rep.Total)
	for typ, c := range counts {
		require.Equal(t, c, after.rep.Rows[typ], "rows of %s", typ)
	}
	require.EqualValues(t, bad, after.rep.Rows[lake.DeadLetterTable])
	require.EqualValues(t, bad, m.deadLetters, "silt_ingest_dead_letters_total")
	m.requireMatchesLake(t, before, after)
	t.Logf("%d SIGTERMs mid-batch; lake %d rows; last daemon: %d batches, %.0f rows (%.0f dead letters), %.0f bytes in, %.0f bytes out in %.0f files",
		midBatch, after.rep.Total, int64(m.histCount), m.rowsSum(), m.deadLetters, m.bytesIn, m.bytesOut, m.files)
}

// TestRunE2ESecondSignalExitsAtOnce sends `silt run` a second SIGTERM while
// the first one's graceful stop waits for an ingest batch under load: the
// process must exit at once with status 130, without the graceful path's
// commit. Restarted, silt replays what the hard exit left pinned, and the
// lake ends with every produced event exactly once.
func TestRunE2ESecondSignalExitsAtOnce(t *testing.T) {
	const n = 200_000
	ep := stacktest.Get(t)
	// Batches of many small files: the graceful stop has uploads and a
	// commit to wait for when the second signal comes.
	setup := newSignalDaemonSetup(t, ep, "run-sig2", "",
		"SILT_INGEST_MAX_RECORDS=40000", "SILT_INGEST_TARGET_FILE_BYTES=256KB")
	topic, store, dir, cfg, env := setup.topic, setup.store, setup.dir, setup.cfg, setup.env
	counts := stacktest.Produce(t, ep.KafkaBrokers, topic, n, 11)

	rng := rand.New(rand.NewPCG(7, 8))
	hard := 0
	for cycle := 1; cycle <= 8 && hard < 2 && stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic) > 0; cycle++ {
		d := siltrun.Start(t, dir, env, "--config", cfg)
		url := d.StatusURL(t)
		d.WaitFor(t, "a first ingest run", 2*time.Minute, func() bool { return strings.Contains(d.Output(), " ingest ") })
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond) // a random point of the next batches
		d.WaitFor(t, "an ingest batch running", time.Minute, func() bool { return ingestRunning.MatchString(httpGet(t, url)) })
		code, running, latency := signalTwice(t, d)
		out := d.Output()
		switch {
		case code == 130 && !strings.Contains(out, "silt run: stopped"):
			// The hard exit: not through the graceful path's commit.
			require.Contains(t, out, "silt run: second signal, exiting now")
			if running > 0 {
				hard++
			}
		case code == 130 || code == 0:
			// The graceful stop had finished when the second signal came
			// (130 if it came while the process was returning).
			require.Contains(t, out, "silt run: stopped")
		default:
			t.Fatalf("silt run exited %d on a second SIGTERM, want 130:\n%s", code, out)
		}
		t.Logf("cycle %d: exit %d with %d jobs running, %s after the second signal; lag %d",
			cycle, code, running, latency.Round(time.Millisecond), stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic))
	}
	require.Positive(t, hard, "no second SIGTERM landed while a batch ran")

	// A restarted daemon replays what the hard exits left pinned and drains the rest.
	d := siltrun.Start(t, dir, env, "--config", cfg)
	d.StatusURL(t)
	d.WaitFor(t, "the topic drained", 5*time.Minute, func() bool { return stacktest.GroupLag(t, ep.KafkaBrokers, topic, topic) == 0 })
	d.Stop(t)

	rep := checkLake(t, store)
	require.Zero(t, rep.Duplicates, "rows with a (topic, partition, offset) seen before")
	require.Equal(t, int64(n), rep.Distinct)
	require.Equal(t, int64(n), rep.Total)
	for typ, c := range counts {
		require.Equal(t, c, rep.Rows[typ], "rows of %s", typ)
	}
	t.Logf("%d hard exits mid-batch; lake %d rows in %d files", hard, rep.Total, rep.Files)
}

// ingestRunning matches the ingest job's row on the status page while it runs.
var ingestRunning = regexp.MustCompile(`data-job="ingest">\s*<td><b>ingest</b></td><td><code>[^<]*</code></td><td>[^<]*</td><td>running`)

// signalTwice sends SIGTERM, waits until silt run has begun its graceful
// stop, sends SIGTERM again at once, and returns the exit code, how many
// jobs the graceful stop was waiting for, and the time from the second
// signal to the exit (logged, not asserted).
func signalTwice(t *testing.T, d *siltrun.Daemon) (code, running int, latency time.Duration) {
	t.Helper()
	require.NoError(t, d.Signal(syscall.SIGTERM))
	// Two signals sent back to back can merge into one in the kernel or
	// the Go runtime; the second is sent once the first was handled.
	stopping := regexp.MustCompile(`stopping: waiting for (\d+) running jobs`)
	var m []string
	deadline := time.Now().Add(time.Minute)
	for m == nil {
		if exited, err := d.Exited(); exited {
			t.Fatalf("silt run exited (%v) before it began stopping:\n%s", err, d.Output())
		}
		require.False(t, time.Now().After(deadline), "silt run did not begin stopping:\n%s", d.Output())
		m = stopping.FindStringSubmatch(d.Output())
		if m == nil {
			time.Sleep(2 * time.Millisecond)
		}
	}
	running, _ = strconv.Atoi(m[1])
	sent := time.Now()
	if err := d.Signal(syscall.SIGTERM); err != nil {
		require.ErrorIs(t, err, os.ErrProcessDone, "second SIGTERM") // it already exited
	}
	err := d.Wait()
	latency = time.Since(sent)
	var exit *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &exit, "silt run:\n%s", d.Output())
		return exit.ExitCode(), running, latency
	}
	return 0, running, latency
}

// signalDaemonSetup is what the signal tests share: a topic of their own,
// the lake under a prefix of the same name, and a config and environment
// that run ingest every second against the stack.
type signalDaemonSetup struct {
	topic, dir, cfg string
	store           *lake.S3
	env             []string
}

// newSignalDaemonSetup makes it; yamlHead goes before the jobs in the
// config file, extraEnv after the stack's environment.
func newSignalDaemonSetup(t *testing.T, ep *stack.Endpoints, prefix, yamlHead string, extraEnv ...string) signalDaemonSetup {
	t.Helper()
	topic := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
	createTopic(t, ep, topic, 4)
	store, err := lake.NewS3(context.Background(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: topic, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "silt.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(yamlHead+`jobs:
  - name: ingest
    kind: ingest
    schedule: "@every 1s"
    retries: 2
    retry_delay: 500ms
`), 0o644))
	env := append(envWithout("SILT_"), ep.Env()...)
	env = append(env,
		"SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP="+topic, "SILT_S3_PREFIX="+topic,
		"SILT_KAFKA_SESSION_TIMEOUT=6s", "SILT_TRINO_SCHEMA="+strings.ReplaceAll(topic, "-", "_"),
		"SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_TRINO_LOCATION=s3://"+ep.S3Bucket+"/"+topic+"/",
	)
	return signalDaemonSetup{topic: topic, dir: dir, cfg: cfg, store: store, env: append(env, extraEnv...)}
}

// lakeSnapshot is what a lake holds at one moment.
type lakeSnapshot struct {
	rep      *lakecheck.Report
	rawBytes int64            // bytes of raw_event over all rows: the Kafka record values
	objects  map[string]int64 // Parquet object key -> size
}

func snapLake(t *testing.T, store lake.Store) lakeSnapshot {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	require.NoError(t, lakecheck.Download(ctx, store, "", dir))
	rep, err := lakecheck.Check(ctx, dir)
	require.NoError(t, err)
	snap := lakeSnapshot{rep: rep, objects: map[string]int64{}}
	if rep.Files > 0 {
		q := fmt.Sprintf(`SELECT coalesce(sum(strlen(raw_event)), 0) FROM read_parquet('%s', union_by_name=true)`,
			filepath.Join(dir, "*", "dt=*", "hour=*", "*.parquet"))
		require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error { return r.Scan(&snap.rawBytes) }))
	}
	objs, err := store.List(ctx, "")
	require.NoError(t, err)
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".parquet") && !strings.HasPrefix(o.Key, lake.MetaPrefix) {
			snap.objects[o.Key] = o.Size
		}
	}
	return snap
}

func checkLake(t *testing.T, store lake.Store) *lakecheck.Report {
	t.Helper()
	return snapLake(t, store).rep
}

// ingestMetricsPage is one scrape of the ingest and job series of /metrics.
type ingestMetricsPage struct {
	rows           map[string]float64 // silt_ingest_rows_total by table
	deadLetters    float64            // silt_ingest_dead_letters_total, all reasons
	events         float64            // silt_ingest_events_total of the topic
	bytesIn        float64
	bytesOut       float64
	files          float64 // silt_ingest_files_total, all reasons
	batchesOK      float64
	batchesFailed  float64
	histCount      float64            // silt_ingest_batch_duration_seconds count
	lag            map[string]float64 // silt_ingest_consumer_lag of the topic by partition
	ingestAttempts float64            // ingest job runs that executed (ok, failed) plus retries
}

func scrapeIngest(t *testing.T, url, topic string) ingestMetricsPage {
	t.Helper()
	fams := parseMetrics(t, httpGet(t, url+"metrics"))
	m := ingestMetricsPage{rows: map[string]float64{}, lag: map[string]float64{}}
	each := func(name string, fn func(labels map[string]string, v float64)) {
		f := fams[name]
		if f == nil {
			return
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := s.GetCounter().GetValue() + s.GetGauge().GetValue() + float64(s.GetHistogram().GetSampleCount())
			fn(labels, v)
		}
	}
	each("silt_ingest_rows_total", func(l map[string]string, v float64) { m.rows[l["table"]] += v })
	each("silt_ingest_events_total", func(l map[string]string, v float64) {
		if l["topic"] == topic {
			m.events += v
		}
	})
	each("silt_ingest_dead_letters_total", func(_ map[string]string, v float64) { m.deadLetters += v })
	each("silt_ingest_bytes_in_total", func(_ map[string]string, v float64) { m.bytesIn += v })
	each("silt_ingest_bytes_written_total", func(_ map[string]string, v float64) { m.bytesOut += v })
	each("silt_ingest_files_total", func(_ map[string]string, v float64) { m.files += v })
	each("silt_ingest_batches_total", func(l map[string]string, v float64) {
		switch l["outcome"] {
		case "ok":
			m.batchesOK += v
		case "failed":
			m.batchesFailed += v
		}
	})
	each("silt_ingest_batch_duration_seconds", func(_ map[string]string, v float64) { m.histCount += v })
	each("silt_ingest_consumer_lag", func(l map[string]string, v float64) {
		if l["topic"] == topic {
			m.lag[l["partition"]] = v
		}
	})
	each("silt_job_runs_total", func(l map[string]string, v float64) {
		if l["job"] == "ingest" && l["status"] != "skipped" {
			m.ingestAttempts += v
		}
	})
	each("silt_job_retries_total", func(l map[string]string, v float64) {
		if l["job"] == "ingest" {
			m.ingestAttempts += v
		}
	})
	return m
}

func (m ingestMetricsPage) rowsSum() float64 {
	sum := 0.0
	for _, v := range m.rows {
		sum += v
	}
	return sum
}

// caughtUp: a lag gauge for each of the topic's partitions, all 0.
func (m ingestMetricsPage) caughtUp(partitions int) bool {
	for p := range partitions {
		if v, ok := m.lag[strconv.Itoa(p)]; !ok || v != 0 {
			return false
		}
	}
	return len(m.lag) == partitions
}

// consistent: the scrape fell between batches. Every batch is observed
// once in the duration histogram and counted once by outcome, and is one
// attempt of an ingest run the scheduler recorded. (A scrape during a
// batch's bookkeeping sees them differ for a moment; waitFor scrapes again.)
func (m ingestMetricsPage) consistent() bool {
	batches := m.batchesOK + m.batchesFailed
	return m.histCount == batches && m.ingestAttempts == batches
}

// requireMatchesLake checks the last daemon's counters against what the
// lake gained while it ran (a new process's counters start at 0).
func (m ingestMetricsPage) requireMatchesLake(t *testing.T, before, after lakeSnapshot) {
	t.Helper()
	tables := map[string]bool{}
	for tbl := range m.rows {
		tables[tbl] = true
	}
	for tbl := range after.rep.Rows {
		tables[tbl] = true
	}
	for tbl := range tables {
		// The dead-letter table is a table like any other here: commit
		// counts its rows under its name.
		require.Equal(t, after.rep.Rows[tbl]-before.rep.Rows[tbl], int64(m.rows[tbl]),
			"silt_ingest_rows_total{table=%q} against the rows the lake gained", tbl)
	}
	added := after.rep.Total - before.rep.Total
	require.Positive(t, m.events)
	require.Positive(t, m.bytesIn)
	require.Positive(t, m.bytesOut)
	if m.batchesFailed == 0 {
		// Records are counted as they are written; a failed batch's are
		// counted again when the next batch replays them.
		require.Equal(t, added, int64(m.events), "silt_ingest_events_total: one per row added")
		require.Equal(t, after.rawBytes-before.rawBytes, int64(m.bytesIn), "silt_ingest_bytes_in_total: the record values the lake gained")
	} else {
		t.Logf("%.0f failed batches: events and bytes in may count replayed records twice", m.batchesFailed)
		require.GreaterOrEqual(t, int64(m.events), added)
		require.GreaterOrEqual(t, int64(m.bytesIn), after.rawBytes-before.rawBytes)
	}
	var newBytes, newFiles int64
	for k, size := range after.objects {
		if old, ok := before.objects[k]; !ok || old != size {
			newBytes += size
			newFiles++
		}
	}
	require.Equal(t, newFiles, int64(m.files), "silt_ingest_files_total: the Parquet objects the lake gained")
	require.Equal(t, newBytes, int64(m.bytesOut), "silt_ingest_bytes_written_total: their sizes")
	require.Equal(t, m.batchesOK+m.batchesFailed, m.histCount, "batch duration histogram: one observation per batch")
}

// produceValues publishes n records with the values value(0..n-1) and
// waits for Kafka to acknowledge them all.
func produceValues(t *testing.T, brokers []string, topic string, n int, value func(int) string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte(value(i))}
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}

func createTopic(t *testing.T, ep *stack.Endpoints, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic)
	require.NoError(t, err)
}
