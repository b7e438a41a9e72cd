// Command ingest is the end-to-end ingest benchmark of `make bench`: it
// publishes synthetic game events to a broker (an in-process kfake, or a
// real Kafka), then times the built `silt ingest` draining them into a
// local lake and, when a stack is running, into MinIO, one after the other
// in one run. It prints events/s, MB/s, the silt process's CPU time (user +
// system: on a shared machine the fairer cost) and peak RSS, the files
// written, and the MinIO run's rates as a fraction of the local lake's.
// With -baseline, another silt binary (built from an earlier commit) is
// timed beside it on each lake, for before/after numbers from one run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/testbed/procmem"
)

func main() {
	events := flag.Int("events", 1_000_000, "events to publish and ingest")
	partitions := flag.Int("partitions", 4, "topic partitions")
	bin := flag.String("silt", "bin/silt", "the silt binary under test")
	stateFile := flag.String("stack", os.Getenv("SILT_STACK_STATE"), "state file of a running `silt stack` for the MinIO run (empty: local lake only)")
	skipLocal := flag.Bool("skip-local", false, "only the MinIO run (make bench times the local lake before starting the stack, whose idle JVMs would share the cores)")
	baseline := flag.String("baseline", "", "another silt binary (e.g. built from an earlier commit): timed on each lake just before -silt, and the after/before ratios printed")
	secureState := flag.String("secure-stack", "", "state file of a running `silt stack up --secure`: also drain the same events from the plain stack's real Kafka and from the secure one's (SASL_SSL with SCRAM-SHA-512, MinIO over TLS), side by side")
	flag.Parse()
	if *secureState != "" {
		if err := runPlainVsSecure(*events, int32(*partitions), *bin, *stateFile, *secureState); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	bins := []siltBinary{{"", *bin}}
	if *baseline != "" {
		bins = []siltBinary{{"before", *baseline}, {"after", *bin}}
	}
	if err := run(*events, int32(*partitions), bins, *stateFile, *skipLocal); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// siltBinary is a silt binary under test; name tells it from a baseline.
type siltBinary struct{ name, path string }

func (b siltBinary) label(lake string) string {
	if b.name == "" {
		return lake
	}
	return lake + " (" + b.name + ")"
}

func run(n int, partitions int32, bins []siltBinary, stateFile string, skipLocal bool) error {
	ctx := context.Background()
	broker, err := embedded.StartBroker(0, "", nil, partitions)
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.Addrs()
	topic := "bench"
	if err := createTopic(ctx, brokers, topic, partitions); err != nil {
		return err
	}
	start := time.Now()
	inBytes, err := publish(ctx, brokers, topic, n)
	if err != nil {
		return err
	}
	fmt.Printf("published %d events (%.1f MB, %.0f bytes/event) to an in-process broker in %s\n",
		n, float64(inBytes)/1e6, float64(inBytes)/float64(n), time.Since(start).Round(time.Millisecond))

	tmp, err := os.MkdirTemp("", "silt-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	env := append(os.Environ(),
		"SILT_KAFKA_BROKERS="+strings.Join(brokers, ","), "SILT_KAFKA_TOPICS="+topic,
		"SILT_INGEST_SPOOL_DIR="+tmp, "SILT_LOG_LEVEL=warn",
	)

	local := make([]result, len(bins))
	if !skipLocal {
		for i, b := range bins {
			env := append(env, "SILT_KAFKA_GROUP=bench-local-"+b.name, "SILT_LAKE_KIND=local", "SILT_LAKE_ROOT="+filepath.Join(tmp, "lake-"+b.name))
			if local[i], err = measure(b.label("local lake"), b.path, env, n, inBytes); err != nil {
				return err
			}
		}
		printAfterBefore("local lake", local)
	}
	if stateFile == "" {
		fmt.Println("MinIO run skipped: no running stack (make bench starts one; or pass -stack FILE)")
		return nil
	}
	st, err := stack.Attach(stateFile)
	if err != nil {
		return fmt.Errorf("attach to stack %s: %w", stateFile, err)
	}
	ep := st.Endpoints()
	minio := make([]result, len(bins))
	for i, b := range bins {
		s3 := append(env, ep.Env()...)
		s3 = append(s3, "SILT_KAFKA_BROKERS="+strings.Join(brokers, ","), "SILT_KAFKA_GROUP=bench-s3-"+b.name,
			fmt.Sprintf("SILT_S3_PREFIX=bench-%d%s", time.Now().Unix(), b.name))
		if minio[i], err = measure(b.label("MinIO lake"), b.path, s3, n, inBytes); err != nil {
			return err
		}
	}
	printAfterBefore("MinIO lake", minio)
	if !skipLocal {
		for i, b := range bins {
			fmt.Printf("MinIO/local%s: %.2f of the local lake's events/s (wall), %.2f of its events per CPU second\n",
				strings.TrimPrefix(" "+b.label(""), " "), minio[i].eventsPerSec/local[i].eventsPerSec, minio[i].eventsPerCPUSec/local[i].eventsPerCPUSec)
		}
	}
	return nil
}

// printAfterBefore prints a binary's numbers as a fraction of the
// baseline's, when a baseline ran (results in the order of the binaries).
func printAfterBefore(lake string, r []result) {
	if len(r) != 2 {
		return
	}
	before, after := r[0], r[1]
	fmt.Printf("%s after/before: %.2f of the events/s (wall), %.2f of the events per CPU second, peak RSS %s -> %s\n",
		lake, after.eventsPerSec/before.eventsPerSec, after.eventsPerCPUSec/before.eventsPerCPUSec, before.peak, after.peak)
}

// result is one measured ingest run.
type result struct {
	eventsPerSec    float64 // wall clock
	eventsPerCPUSec float64 // the silt process's user + system time
	peak            procmem.Peak
}

func createTopic(ctx context.Context, brokers []string, topic string, partitions int32) error {
	return createTopicWith(ctx, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic, partitions)
}

func createTopicWith(ctx context.Context, opts []kgo.Opt, topic string, partitions int32) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	return err
}

func publish(ctx context.Context, brokers []string, topic string, n int) (int64, error) {
	return publishWith(ctx, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic, n)
}

func publishWith(ctx context.Context, conn []kgo.Opt, topic string, n int) (int64, error) {
	cl, err := kgo.NewClient(append(conn, kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(10*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	g := gen.NewEvents(1, nil, nil)
	at := time.Now().UTC().Add(-2 * time.Hour)
	var total int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		ev := g.Next(nil, at.Add(time.Duration(i)*7*time.Millisecond))
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
	return total, firstErr
}

// measure runs `silt ingest` until caught up and reports its numbers.
func measure(name, bin string, env []string, n int, inBytes int64) (result, error) {
	cfg := filepath.Join(os.TempDir(), fmt.Sprintf("silt-bench-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(cfg, []byte("log:\n  format: json\n"), 0o644); err != nil {
		return result{}, err
	}
	defer func() { _ = os.Remove(cfg) }()
	cmd := exec.Command(bin, "ingest", "--config", cfg, "--no-register", "--json-stats")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	var stdout strings.Builder
	cmd.Stdout = &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("%s: silt ingest: %w", name, err)
	}
	peak := make(chan procmem.Peak)
	go func() { peak <- procmem.Watch(cmd.Process.Pid) }()
	err := cmd.Wait()
	elapsed := time.Since(start)
	rss := <-peak
	out := []byte(stdout.String())
	if err != nil {
		return result{}, fmt.Errorf("%s: silt ingest: %w", name, err)
	}
	var totals struct {
		Events   int64 `json:"events"`
		Files    int64 `json:"files"`
		BytesOut int64 `json:"bytes_out"`
		Batches  int   `json:"batches"`
	}
	if err := json.Unmarshal(out, &totals); err != nil {
		return result{}, fmt.Errorf("%s: read silt's --json-stats %q: %w", name, out, err)
	}
	if totals.Events != int64(n) {
		return result{}, fmt.Errorf("%s: silt ingested %d events, want %d", name, totals.Events, n)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r := result{eventsPerSec: float64(n) / elapsed.Seconds(), eventsPerCPUSec: float64(n) / cpu.Seconds(), peak: rss}
	fmt.Printf("%-10s %9.0f events/s  %6.1f MB/s in  CPU %s (%.0f events/CPU-s)  peak RSS %s  %d files (%.1f MB Parquet) in %d batches, %s wall\n",
		name, r.eventsPerSec, float64(inBytes)/1e6/elapsed.Seconds(), cpu.Round(time.Millisecond), r.eventsPerCPUSec, rss,
		totals.Files, float64(totals.BytesOut)/1e6, totals.Batches, elapsed.Round(time.Millisecond))
	return r, nil
}

// runPlainVsSecure publishes the same n events to the plain stack's Kafka
// and to the secure stack's (over SASL_SSL), then times silt ingest
// draining each into its stack's MinIO: plaintext against TLS+SCRAM, in
// one run on one machine.
func runPlainVsSecure(n int, partitions int32, bin, plainState, secureState string) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "silt-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	// Two rounds in opposite orders: whichever side runs first warms the
	// page cache and the JVMs for the other, and this machine is shared.
	plain := struct{ name, state string }{"plaintext", plainState}
	secure := struct{ name, state string }{"TLS+SCRAM", secureState}
	for round, side := range []struct{ name, state string }{plain, secure, secure, plain} {
		topic := fmt.Sprintf("bench-%d-%d", time.Now().Unix(), round)
		st, err := stack.Attach(side.state)
		if err != nil {
			return fmt.Errorf("attach to stack %s: %w", side.state, err)
		}
		ep := st.Endpoints()
		opts := []kgo.Opt{kgo.SeedBrokers(ep.KafkaBrokers...)}
		if ep.Secure {
			tlsCfg, err := ep.ClientTLS(false)
			if err != nil {
				return err
			}
			opts = append(opts, kgo.DialTLSConfig(tlsCfg),
				kgo.SASL(scram.Auth{User: ep.KafkaSCRAMUser, Pass: ep.KafkaSCRAMPassword}.AsSha512Mechanism()))
		}
		if err := createTopicWith(ctx, opts, topic, partitions); err != nil {
			return fmt.Errorf("%s: %w", side.name, err)
		}
		inBytes, err := publishWith(ctx, opts, topic, n)
		if err != nil {
			return fmt.Errorf("%s: publish: %w", side.name, err)
		}
		env := append(os.Environ(), ep.Env()...)
		env = append(env, "SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP="+topic, "SILT_S3_PREFIX="+topic,
			"SILT_INGEST_SPOOL_DIR="+tmp, "SILT_LOG_LEVEL=warn")
		if _, err := measure(side.name, bin, env, n, inBytes); err != nil {
			return err
		}
	}
	return nil
}
