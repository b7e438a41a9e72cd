// Command load is a bounded loopback load on the collector (not a test):
// N connections post NDJSON batches (or GET a route) for a while against a
// collector on a real Kafka (the brokers of a running `silt stack` named by
// --stack, or --brokers), or on an in-process kfake broker when given
// neither, then consumes the topic back and checks every acknowledged event
// is there exactly once. It prints requests/s, events/s, p50/p99 latency
// and the lost count. It exits nonzero when an acknowledged event is lost
// or duplicated, the topic holds records no client was told were stored,
// or any request got an answer other than 202: make bench fails then.
//
//	go run ./testbed/bench/load [--duration 30s] [--conns 16] [--batch 20] [--stack state.json | --brokers host:port] [--get]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/collect"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/internal/topics"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type span struct{ first, n int64 }

func run() error {
	duration := flag.Duration("duration", 30*time.Second, "how long to load")
	conns := flag.Int("conns", 16, "concurrent connections")
	batch := flag.Int("batch", 20, "events per POST")
	stateFile := flag.String("stack", "", "state file of a running `silt stack`: load its Kafka")
	brokers := flag.String("brokers", "", "real Kafka brokers, comma-separated (default: the --stack's, else an in-process kfake broker)")
	get := flag.Bool("get", false, "GET /purchase_a_sword, one event per request, instead of POST batches")
	flag.Parse()

	ctx := context.Background()
	kind := "kafka " + *brokers
	bs := strings.Split(*brokers, ",")
	switch {
	case *brokers != "" && *stateFile != "":
		return errors.New("give --stack or --brokers, not both")
	case *stateFile != "":
		st, err := stack.Attach(*stateFile)
		if err != nil {
			return fmt.Errorf("attach to stack %s: %w", *stateFile, err)
		}
		bs = st.Endpoints().KafkaBrokers
		if len(bs) == 0 {
			return fmt.Errorf("stack %s has no Kafka brokers", *stateFile)
		}
		kind = "kafka " + strings.Join(bs, ",") + " (the stack's)"
	case *brokers == "":
		kind = "kfake (in-process)"
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "events"))
		if err != nil {
			return fmt.Errorf("start kfake: %w", err)
		}
		defer kc.Close()
		bs = kc.ListenAddrs()
	}
	topic := fmt.Sprintf("bench-load-%d", time.Now().UnixNano())
	adm, err := kgo.NewClient(kgo.SeedBrokers(bs...))
	if err != nil {
		return err
	}
	defer adm.Close()
	// Ensure also waits until the topic is led, so that no producer waits
	// out a metadata refresh inside the timed run.
	if err := topics.Ensure(ctx, bs, []string{topic}, 6); err != nil {
		return err
	}
	// A real Kafka keeps a bench topic's gigabytes otherwise.
	defer func() {
		if _, err := kadm.NewClient(adm).DeleteTopics(context.WithoutCancel(ctx), topic); err != nil {
			fmt.Fprintf(os.Stderr, "load: delete topic %s: %v\n", topic, err)
		}
	}()

	cfg := config.Default()
	cfg.Kafka.Brokers = bs
	cfg.Collect.Topic = topic
	col, err := collect.New(cfg, collect.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srvCtx, stopSrv := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- col.Serve(srvCtx, ln) }()
	base := "http://" + ln.Addr().String()

	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		seq       atomic.Int64
		mu        sync.Mutex
		acked     []span
		latencies []time.Duration
		codes     = map[int]int{}
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(*duration)
	start := time.Now()
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var mine []span
			local := map[int]int{}
			for time.Now().Before(deadline) {
				n := int64(*batch)
				if *get {
					n = 1
				}
				first := seq.Add(n) - n
				var req *http.Request
				if *get {
					// The seq rides in the User-Agent, the one field a GET route keeps.
					req, _ = http.NewRequest("GET", base+"/purchase_a_sword", nil)
					req.Header.Set("User-Agent", fmt.Sprintf("bench seq=%d", first))
				} else {
					var b strings.Builder
					for i := int64(0); i < n; i++ {
						fmt.Fprintf(&b, "{\"event_type\":\"bench\",\"seq\":%d}\n", first+i)
					}
					req, _ = http.NewRequest("POST", base+"/events", strings.NewReader(b.String()))
					req.Header.Set("Content-Type", "application/x-ndjson")
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				code := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				lat = append(lat, time.Since(t0))
				local[code]++
				if code == http.StatusAccepted {
					mine = append(mine, span{first, n})
				}
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			acked = append(acked, mine...)
			for k, v := range local {
				codes[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopSrv()
	if err := <-served; err != nil {
		return fmt.Errorf("collector drain: %w", err)
	}

	// Consume back: every acknowledged seq must be there.
	maxSeq := seq.Load()
	seen := make([]uint8, maxSeq)
	var records int64
	if err := consume(ctx, bs, topic, func(v []byte, ua string) {
		records++
		var m struct {
			Seq *int64 `json:"seq"`
		}
		_ = json.Unmarshal(v, &m)
		s := int64(-1)
		if m.Seq != nil {
			s = *m.Seq
		} else if _, err := fmt.Sscanf(ua, "bench seq=%d", &s); err != nil {
			s = -1
		}
		if s >= 0 && s < maxSeq && seen[s] < 255 {
			seen[s]++
		}
	}); err != nil {
		return err
	}
	var ackedEvents, lost, dup int64
	for _, sp := range acked {
		for s := sp.first; s < sp.first+sp.n; s++ {
			ackedEvents++
			switch {
			case seen[s] == 0:
				lost++
			case seen[s] > 1:
				dup++
			}
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	mode := fmt.Sprintf("POST NDJSON x%d", *batch)
	if *get {
		mode = "GET route"
	}
	fmt.Printf("collector load: %s, %s, %d connections, %s\n", kind, mode, *conns, elapsed.Round(time.Millisecond))
	fmt.Printf("  requests  %d (%.0f/s)  answers %v\n", len(latencies), float64(len(latencies))/elapsed.Seconds(), codes)
	fmt.Printf("  events    %d acknowledged (%.0f/s), %d records in the topic\n", ackedEvents, float64(ackedEvents)/elapsed.Seconds(), records)
	fmt.Printf("  latency   p50 %s  p99 %s  max %s\n", pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	fmt.Printf("  lost acknowledged events %d, duplicated %d\n", lost, dup)
	var failed []string
	if lost > 0 {
		failed = append(failed, fmt.Sprintf("%d acknowledged events are not in Kafka", lost))
	}
	if dup > 0 {
		failed = append(failed, fmt.Sprintf("%d acknowledged events are in Kafka more than once", dup))
	}
	// Every answer was 202 (checked below), so every record is one
	// acknowledged event; more records are events nobody was told stored.
	if records != ackedEvents {
		failed = append(failed, fmt.Sprintf("%d records in the topic for %d acknowledged events", records, ackedEvents))
	}
	if bad := len(latencies) - codes[http.StatusAccepted]; bad > 0 {
		failed = append(failed, fmt.Sprintf("%d of %d requests were not answered 202 (0 is a transport error): %v", bad, len(latencies), codes))
	}
	if ackedEvents == 0 {
		failed = append(failed, "no event was acknowledged")
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// consume reads the topic from the start to its current end.
func consume(ctx context.Context, brokers []string, topic string, fn func(value []byte, userAgent string)) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var ua struct {
		UA string `json:"User-Agent"`
	}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("consume %s: %w (partitions not at end: %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			ua.UA = ""
			if strings.Contains(string(r.Value), `"User-Agent"`) {
				_ = json.Unmarshal(r.Value, &ua)
			}
			fn(r.Value, ua.UA)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}
