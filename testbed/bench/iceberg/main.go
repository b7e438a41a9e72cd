// Command iceberg is make bench's Iceberg-against-Hive comparison, side by
// side in one run on one stack (it needs `silt stack up --metastore`): the
// same synthetic events are drained by the built `silt ingest` twice into
// MinIO, once registering Hive tables and once committing Iceberg tables
// (catalog.trino.table_format: iceberg, on the metastore's Iceberg
// catalog), each with registration on. It prints each run's events/s,
// CPU and peak RSS, the Iceberg commit latency (p50, p99, max of silt's
// "iceberg commit" log lines: one commit per table per batch), and then
// the host_breakdown report's query time on both formats over the same
// events (rounds alternating between them; medians), before and after
// each format's own compaction.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/jobs/report"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
	"github.com/silt-etl/silt/testbed/procmem"
)

func main() {
	events := flag.Int("events", 1_000_000, "events to publish and ingest (each format drains all of them)")
	partitions := flag.Int("partitions", 4, "topic partitions")
	bin := flag.String("silt", "bin/silt", "the silt binary under test")
	stateFile := flag.String("stack", os.Getenv("SILT_STACK_STATE"), "state file of a running `silt stack up --metastore`")
	rounds := flag.Int("rounds", 3, "host_breakdown rounds per format and stage (medians printed)")
	flag.IntVar(&batchRecords, "batch-records", 50_000, "ingest.max_records of both runs (a batch per this many events)")
	flag.Parse()
	if err := run(*events, int32(*partitions), *bin, *stateFile, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench iceberg:", err)
		os.Exit(1)
	}
}

// batchRecords is both runs' ingest.max_records.
var batchRecords int

// format is one side of the comparison: how silt is pointed at it.
type format struct {
	name    string // hive or iceberg
	env     []string
	catalog catalog.TrinoOptions
}

func run(n int, partitions int32, bin, stateFile string, rounds int) error {
	ctx := context.Background()
	if stateFile == "" {
		return fmt.Errorf("no stack: pass -stack FILE of `silt stack up --metastore`")
	}
	st, err := stack.Attach(stateFile)
	if err != nil {
		return fmt.Errorf("attach to stack %s: %w", stateFile, err)
	}
	ep := st.Endpoints()
	if ep.MetastoreURI == "" || ep.TrinoMetastoreIcebergCatalog == "" {
		return fmt.Errorf("stack %s runs no Hive Metastore with an Iceberg catalog: start it with --metastore", stateFile)
	}
	broker, err := embedded.StartBroker(0, "", nil, partitions)
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.Addrs()
	const topic = "bench"
	if err := createTopic(ctx, brokers, topic, partitions); err != nil {
		return err
	}
	start := time.Now()
	inBytes, first, last, err := publish(ctx, brokers, topic, n)
	if err != nil {
		return err
	}
	fmt.Printf("published %d events (%.1f MB) to an in-process broker in %s\n", n, float64(inBytes)/1e6, time.Since(start).Round(time.Millisecond))

	tmp, err := os.MkdirTemp("", "silt-bench-iceberg-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	id := time.Now().Unix()
	base := append(os.Environ(), ep.Env()...)
	base = append(base, "SILT_KAFKA_BROKERS="+strings.Join(brokers, ","), "SILT_KAFKA_TOPICS="+topic,
		"SILT_INGEST_SPOOL_DIR="+tmp, "SILT_LOG_LEVEL=info", "SILT_INGEST_TIMESTAMP_UNIT=micros",
		// Batches of at most batchRecords, as a live ingest every few
		// seconds makes them: many commits to take latencies from.
		fmt.Sprintf("SILT_INGEST_MAX_RECORDS=%d", batchRecords))
	formats := []format{
		{name: "hive", env: []string{
			"SILT_TRINO_CATALOG=" + ep.TrinoCatalog,
		}, catalog: catalog.TrinoOptions{Catalog: ep.TrinoCatalog}},
		{name: "iceberg", env: []string{
			"SILT_TRINO_TABLE_FORMAT=iceberg", "SILT_TRINO_CATALOG=" + ep.TrinoMetastoreIcebergCatalog,
			"SILT_TRINO_ICEBERG_METASTORE_URI=" + ep.MetastoreURI,
		}, catalog: catalog.TrinoOptions{Catalog: ep.TrinoMetastoreIcebergCatalog}},
	}
	for i := range formats {
		f := &formats[i]
		schema := fmt.Sprintf("bench_%s_%d", f.name, id)
		prefix := fmt.Sprintf("bench-%s-%d", f.name, id)
		f.env = append(append(append([]string{}, base...), f.env...), "SILT_TRINO_SCHEMA="+schema,
			"SILT_S3_PREFIX="+prefix, "SILT_KAFKA_GROUP=bench-"+f.name+fmt.Sprint(id))
		f.catalog.URL, f.catalog.Schema, f.catalog.Location = ep.TrinoURL, schema, ep.TrinoSchemaLocation+prefix+"/"
	}
	// Each format that ingested every event is timed below; a failed one
	// is reported and fails the run at the end.
	var failed error
	var timed []format
	for _, f := range formats {
		if err := measureIngest(f, bin, n, inBytes); err != nil {
			fmt.Printf("%-8s ingest FAILED: %v\n", f.name, err)
			failed = errors.Join(failed, err)
			continue
		}
		timed = append(timed, f)
	}

	reports, err := reportsql.Load("")
	if err != nil {
		return err
	}
	r := reports["host_breakdown"]
	values, err := r.Values(map[string]string{"start": first.Add(-time.Hour).Format(time.RFC3339), "end": last.Add(time.Hour).Format(time.RFC3339)}, time.Now())
	if err != nil {
		return err
	}
	var names []string
	var cats []*catalog.Catalog
	open := func(name string, opts catalog.TrinoOptions) (*catalog.Catalog, error) {
		c, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: opts}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		names, cats = append(names, name), append(cats, c)
		return c, nil
	}
	defer func() {
		for _, c := range cats {
			_ = c.Close()
		}
	}()
	for _, f := range timed {
		if _, err := open(f.name, f.catalog); err != nil {
			return err
		}
	}
	// The Hive tables' rows copied by Trino into Iceberg tables of its
	// own files (CREATE TABLE AS, partitioned by hour(event_time)): the
	// format's cost apart from whose Parquet it reads.
	if len(timed) > 0 && timed[0].name == "hive" {
		hive := cats[0]
		copyOpts := catalog.TrinoOptions{URL: ep.TrinoURL, Catalog: ep.TrinoMetastoreIcebergCatalog,
			Schema: fmt.Sprintf("bench_icecopy_%d", id), Location: ep.TrinoSchemaLocation + fmt.Sprintf("bench-icecopy-%d/", id)}
		ice, err := open("iceberg (Trino's copy)", copyOpts)
		if err != nil {
			return err
		}
		started := time.Now()
		if err := copyToIceberg(ctx, hive, ice); err != nil {
			return err
		}
		fmt.Printf("Trino copied the Hive tables into Iceberg tables in %s\n", time.Since(started).Round(time.Millisecond))
	}
	if err := timeReports(ctx, "as ingested", names, cats, r, values, rounds, n); err != nil {
		return errors.Join(failed, err)
	}
	for _, f := range timed {
		started := time.Now()
		cmd := exec.Command(bin, "compact", "--config", logConfig(tmp))
		cmd.Env = append(f.env, "SILT_LOG_LEVEL=warn")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return errors.Join(failed, fmt.Errorf("%s: silt compact: %w", f.name, err))
		}
		fmt.Printf("%-8s silt compact: %s (%s)\n", f.name, strings.TrimSpace(string(out)), time.Since(started).Round(time.Millisecond))
	}
	return errors.Join(failed, timeReports(ctx, "after silt compact", names, cats, r, values, rounds, n))
}

// copyToIceberg copies every table of hive into ice by CREATE TABLE AS,
// without the partition columns, timestamps as Iceberg's microseconds.
func copyToIceberg(ctx context.Context, hive, ice *catalog.Catalog) error {
	cols, err := hive.Columns(ctx)
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, c := range lake.PartitionColumns {
		keys[c.Name] = true
	}
	for table, cs := range cols {
		var sel []string
		for _, c := range cs {
			switch {
			case keys[c.Name]:
			case c.Type == lake.TypeTimestamp:
				sel = append(sel, fmt.Sprintf("CAST(%s AS timestamp(6)) AS %s", catalog.Quote(c.Name), catalog.Quote(c.Name)))
			default:
				sel = append(sel, catalog.Quote(c.Name))
			}
		}
		q := fmt.Sprintf("CREATE TABLE %s WITH (format = 'PARQUET', format_version = 2, partitioning = ARRAY['hour(event_time)']) AS SELECT %s FROM %s",
			ice.Qualified(table), strings.Join(sel, ", "), hive.Qualified(table))
		if _, err := ice.DB().ExecContext(ctx, q); err != nil {
			return fmt.Errorf("copy %s into Iceberg: %w", table, err)
		}
	}
	return nil
}

// logConfig is a config file asking for JSON logs (the commit latencies
// are read from them).
func logConfig(dir string) string {
	path := filepath.Join(dir, "silt.yaml")
	_ = os.WriteFile(path, []byte("log:\n  format: json\n"), 0o644)
	return path
}

// measureIngest runs `silt ingest` (registration on) until caught up.
func measureIngest(f format, bin string, n int, inBytes int64) error {
	cmd := exec.Command(bin, "ingest", "--config", logConfig(os.TempDir()), "--json-stats")
	cmd.Env = f.env
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: silt ingest: %w", f.name, err)
	}
	peak := make(chan int64)
	go func() { peak <- procmem.Watch(cmd.Process.Pid).RSS }()
	commits := commitLatencies(stderr)
	err = cmd.Wait()
	elapsed := time.Since(start)
	rss := <-peak
	if err != nil {
		return fmt.Errorf("%s: silt ingest: %w", f.name, err)
	}
	var totals struct {
		Events  int64 `json:"events"`
		Files   int64 `json:"files"`
		Batches int   `json:"batches"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &totals); err != nil {
		return fmt.Errorf("%s: read silt's --json-stats %q: %w", f.name, stdout.String(), err)
	}
	if totals.Events != int64(n) {
		return fmt.Errorf("%s: silt ingested %d events, want %d", f.name, totals.Events, n)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Printf("%-8s ingest %9.0f events/s  %6.1f MB/s in  CPU %s  peak RSS %4d MB  %d files in %d batches, %s wall\n",
		f.name, float64(n)/elapsed.Seconds(), float64(inBytes)/1e6/elapsed.Seconds(), cpu.Round(time.Millisecond), rss>>20,
		totals.Files, totals.Batches, elapsed.Round(time.Millisecond))
	lat := <-commits
	if len(lat) > 0 {
		fmt.Printf("%-8s commit latency over %d commits (one per table per batch): p50 %s  p99 %s  max %s\n",
			f.name, len(lat), quantile(lat, 0.5), quantile(lat, 0.99), lat[len(lat)-1])
	}
	if f.name == "iceberg" && len(lat) == 0 {
		// ingest succeeds when only registration fails (the next batch
		// repairs): without a commit there is nothing to compare.
		return fmt.Errorf("%s: silt ingest made no Iceberg commit (see its warnings above)", f.name)
	}
	return nil
}

// commitLatencies reads silt's JSON log lines, passes the others on to
// stderr, and yields the "took" of every "iceberg commit", sorted.
func commitLatencies(r io.Reader) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		var lat []time.Duration
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Level string          `json:"level"`
				Msg   string          `json:"msg"`
				Took  json.RawMessage `json:"took"` // slog's JSON: nanoseconds
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				fmt.Fprintln(os.Stderr, sc.Text())
				continue
			}
			if line.Msg == "iceberg commit" {
				var ns int64
				var text string
				if json.Unmarshal(line.Took, &ns) == nil {
					lat = append(lat, time.Duration(ns))
				} else if json.Unmarshal(line.Took, &text) == nil {
					if d, err := time.ParseDuration(text); err == nil {
						lat = append(lat, d)
					}
				}
			}
			if line.Level == "WARN" || line.Level == "ERROR" { // info: a line per batch, too many
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		out <- lat
	}()
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// timeReports runs host_breakdown on each format in turn, rounds times,
// and prints the medians; both must count every event.
func timeReports(ctx context.Context, stage string, names []string, cats []*catalog.Catalog, r *reportsql.Report, values map[string]any, rounds, n int) error {
	times := make([][]time.Duration, len(names))
	for range rounds {
		for i, name := range names {
			started := time.Now()
			res, err := report.Execute(ctx, cats[i], r, values)
			if err != nil {
				return fmt.Errorf("%s: host_breakdown: %w", name, err)
			}
			times[i] = append(times[i], time.Since(started))
			var total int64
			for _, row := range res.Rows {
				if v, ok := row[2].(int64); ok {
					total += v
				}
			}
			if total != int64(n) {
				return fmt.Errorf("%s: host_breakdown counted %d events, want %d", name, total, n)
			}
		}
	}
	for i, name := range names {
		sort.Slice(times[i], func(a, b int) bool { return times[i][a] < times[i][b] })
		fmt.Printf("%-22s host_breakdown %s over %d events: median %s of %d rounds (min %s, max %s)\n", name, stage, n,
			times[i][len(times[i])/2].Round(time.Millisecond), rounds, times[i][0].Round(time.Millisecond), times[i][len(times[i])-1].Round(time.Millisecond))
	}
	return nil
}

func createTopic(ctx context.Context, brokers []string, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	return err
}

// publish sends n synthetic game events 7 ms apart (event time) from two
// hours ago, and returns their bytes and first and last event times.
func publish(ctx context.Context, brokers []string, topic string, n int) (total int64, first, last time.Time, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return 0, first, last, err
	}
	defer cl.Close()
	g := gen.NewEvents(1, nil, nil)
	first = time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		last = first.Add(time.Duration(i) * 7 * time.Millisecond)
		ev := g.Next(nil, last)
		total += int64(len(ev.JSON))
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: ev.JSON}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total, first, last, firstErr
}
