//go:build integration

package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/topics"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// newTopic makes a fresh topic so runs never see each other's records;
// topics.Ensure returns once every partition is led, so no producer waits
// out a metadata refresh longer than some tests' produce timeout.
func newTopic(t *testing.T, brokers []string) string {
	t.Helper()
	name := fmt.Sprintf("collect-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	require.NoError(t, topics.Ensure(context.Background(), brokers, []string{name}, 3))
	return name
}

func realCollector(t *testing.T, brokers []string, topic string, edit func(*config.Config)) *httptest.Server {
	t.Helper()
	_, srv := realCollectorOpts(t, brokers, topic, edit, Options{ProduceTimeout: 5 * time.Second})
	return srv
}

// realCollectorOpts serves a collector on the real Kafka; its Close (which
// a test may call earlier) runs at cleanup and must flush.
func realCollectorOpts(t *testing.T, brokers []string, topic string, edit func(*config.Config), opts Options) (*Collector, *httptest.Server) {
	t.Helper()
	cfg := testConfig(brokers)
	cfg.Collect.Topic = topic
	if edit != nil {
		edit(cfg)
	}
	col, err := New(cfg, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, col.Close(ctx))
	})
	return col, srv
}

func TestCollectorIntegration(t *testing.T) {
	brokers := stacktest.Get(t).KafkaBrokers
	topic := newTopic(t, brokers)
	srv := realCollector(t, brokers, topic, func(c *config.Config) { c.Collect.Token = "tok" })
	auth := map[string]string{"Authorization": "Bearer tok", "User-Agent": "it/1", "Accept": "text/plain"}

	// 1 + 40 + 60 POSTed, 3 GETs: every one must be in Kafka once, with
	// the request ID the collector echoed as its request_id record header.
	want := 0
	reqOf := map[string]string{} // event id prefix or route User-Agent -> request ID
	post := func(ctype, body string, n int, reqID, idPrefix string) {
		h := map[string]string{"X-Request-ID": reqID}
		for k, v := range auth {
			h[k] = v
		}
		a := do(t, "POST", srv.URL+"/events", ctype, body, h)
		require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
		require.Equal(t, float64(n), a.body["accepted"])
		require.Equal(t, reqID, a.header.Get("X-Request-ID"), "the client's request ID is echoed")
		reqOf[idPrefix] = reqID
		want += n
	}
	post("application/json", `{"event_type":"purchase_sword","id":"s-0"}`, 1, "it-single", "s")
	var arr, nd []string
	for i := 0; i < 40; i++ {
		arr = append(arr, fmt.Sprintf(`{"event_type":"join_guild","id":"a-%d"}`, i))
	}
	post("application/json", "["+strings.Join(arr, ",")+"]", 40, "it-array", "a")
	for i := 0; i < 60; i++ {
		nd = append(nd, fmt.Sprintf(`{"event_type":"default","id":"n-%d"}`, i))
	}
	post("application/x-ndjson", strings.Join(nd, "\n")+"\n", 60, "it-ndjson", "n")
	for i, p := range []string{"/", "/purchase_a_sword", "/join_the_guild"} {
		ua := fmt.Sprintf("route/%d", i)
		h := map[string]string{"Authorization": "Bearer tok", "User-Agent": ua, "Accept": "*/*"}
		a := do(t, "GET", srv.URL+p, "", "", h)
		require.Equal(t, http.StatusAccepted, a.status)
		// No X-Request-ID sent: the collector made one up and echoed it.
		require.Regexp(t, `^[0-9a-f]{24}$`, a.header.Get("X-Request-ID"))
		reqOf[ua] = a.header.Get("X-Request-ID")
		want++
	}

	// Every error status, none of which may store anything; every answer
	// carries its request ID in the header and the body.
	for _, tc := range []struct {
		method, path, ctype, body string
		hdr                       map[string]string
		status                    int
		errHas                    string
	}{
		{"POST", "/events", "", `{"event_type":"x"}`, nil, 401, "bearer token"},
		{"GET", "/join_the_guild", "", "", map[string]string{"Authorization": "Bearer nope"}, 401, "bearer token"},
		{"POST", "/events", "", `{"event_type":"x"`, auth, 400, "malformed JSON at byte 17 (line 1, column 17): unexpected end of JSON input"},
		{"POST", "/events", "", "{\"event_type\":\"x\",\n \"n\": ?}", auth, 400, "malformed JSON at byte 26 (line 2, column 7): invalid character '?'"},
		{"POST", "/events", "application/x-ndjson", "{\"event_type\":\"x\"}\n{\n", auth, 400, "malformed JSON at byte 20 (line 2, column 1)"},
		{"POST", "/events", "", `[{"event_type":"x"},{"id":1}]`, auth, 422, `event 1: missing "event_type"`},
		{"POST", "/events", "", `{"event_type":"x","p":"` + strings.Repeat("z", 1100) + `"}`, auth, 413, "the limit is 1024"},
		{"POST", "/events", "", strings.Repeat(" ", 5000), auth, 413, "the limit is 4096"},
	} {
		a := do(t, tc.method, srv.URL+tc.path, tc.ctype, tc.body, tc.hdr)
		what := fmt.Sprintf("%s %s %.40q", tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, a.status, what)
		require.Equal(t, "error", a.body["status"], what)
		require.Contains(t, a.body["error"], tc.errHas, what)
		require.NotEmpty(t, a.header.Get("X-Request-ID"), what)
		require.Equal(t, a.header.Get("X-Request-ID"), a.body["request_id"], what)
	}

	recs := readTopic(t, brokers, topic)
	require.Len(t, recs, want, "records in the topic")
	ids := map[string]int{}
	routes := map[string]string{}
	for _, r := range recs {
		m := decode(t, r)
		require.NotEmpty(t, m["received_at"])
		require.Equal(t, strings.TrimPrefix(srv.URL, "http://"), m["Host"])
		require.Len(t, r.Headers, 1)
		require.Equal(t, "request_id", r.Headers[0].Key)
		if id, ok := m["id"].(string); ok {
			ids[id]++
			require.Equal(t, "it/1", m["User-Agent"])
			require.Equal(t, "text/plain", m["Accept"])
			p, _, _ := strings.Cut(id, "-")
			require.Equal(t, reqOf[p], string(r.Headers[0].Value), "request_id header of %s", id)
		} else {
			ua := m["User-Agent"].(string)
			routes[ua] = m["event_type"].(string)
			require.Equal(t, "*/*", m["Accept"])
			require.Equal(t, reqOf[ua], string(r.Headers[0].Value), "request_id header of the %s GET", ua)
		}
	}
	require.Len(t, ids, 101)
	for id, n := range ids {
		require.Equal(t, 1, n, id)
	}
	require.Equal(t, map[string]string{"route/0": "default", "route/1": "purchase_sword", "route/2": "join_guild"}, routes)

	t.Run("full buffer", func(t *testing.T) { testFullBufferOnRealKafka(t, brokers) })
}

// testFullBufferOnRealKafka fills the collector's buffer deterministically:
// with kgo's manual flushing nothing leaves the producer until Close
// flushes it, so a first request's events stay buffered for as long as the
// test needs, and the next request must get 503 at once. Close then
// delivers the held events to the real Kafka and the first request gets
// its 202; the rejected ones are not in the topic.
func testFullBufferOnRealKafka(t *testing.T, brokers []string) {
	t.Helper()
	topic := newTopic(t, brokers)
	col, srv := realCollectorOpts(t, brokers, topic, func(c *config.Config) { c.Collect.MaxBuffered = 5 },
		Options{ProduceTimeout: time.Minute, KafkaOpts: []kgo.Opt{kgo.ManualFlushing()}})
	held := make(chan answer, 1)
	go func() {
		held <- request("POST", srv.URL+"/events", "application/x-ndjson",
			strings.Repeat(`{"event_type":"full","id":"held"}`+"\n", 5), map[string]string{"X-Request-ID": "held"})
	}()
	for deadline := time.Now().Add(time.Minute); col.Buffered() < 5; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the first request's 5 events never reached the producer (buffered %d)", col.Buffered())
	}
	require.Equal(t, int64(5), col.Buffered())

	a := do(t, "POST", srv.URL+"/events", "", `{"event_type":"full","id":"rejected"}`, map[string]string{"X-Request-ID": "rejected"})
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%v", a.body)
	require.Equal(t, "1", a.header.Get("Retry-After"))
	require.Contains(t, a.body["error"], "collector buffer full (5 events buffered)")
	require.Equal(t, "rejected", a.body["request_id"])
	a = do(t, "GET", srv.URL+"/join_the_guild", "", "", map[string]string{"User-Agent": "rejected"})
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%v", a.body)
	a = do(t, "POST", srv.URL+"/events", "", "["+strings.Repeat(`{"event_type":"full","id":"too-many"},`, 5)+`{"event_type":"full","id":"too-many"}]`, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status, "%v", a.body)
	require.Equal(t, int64(5), col.Buffered(), "rejected requests took no slots")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, col.Close(ctx))
	a = <-held
	require.NoError(t, a.err)
	require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
	require.Equal(t, float64(5), a.body["accepted"])
	require.Equal(t, int64(0), col.Buffered())

	recs := readTopic(t, brokers, topic)
	require.Len(t, recs, 5, "records in the topic")
	for _, r := range recs {
		require.Equal(t, "full", decode(t, r)["event_type"])
		require.Contains(t, string(r.Value), `"id":"held"`)
		require.Equal(t, "held", string(r.Headers[0].Value))
	}
}

// TestCollectorLoadIntegration is a bounded load on the real Kafka: for
// about ten seconds concurrent clients POST single objects, arrays and
// NDJSON, each event with its own id and each request with its own ID.
// Then the topic must hold every acknowledged event exactly once, under
// the ID of the request that sent it, and nothing else. It logs
// requests/s and p99 latency; nothing asserts on time.
func TestCollectorLoadIntegration(t *testing.T) {
	brokers := stacktest.Get(t).KafkaBrokers
	topic := newTopic(t, brokers)
	// A loaded two-core machine may stall the producer for seconds; the
	// point is that what was acknowledged is stored, not how fast.
	col, srv := realCollectorOpts(t, brokers, topic, func(c *config.Config) {
		c.Collect.MaxBodyBytes = 1 << 20
		c.Collect.MaxBuffered = 100_000
	}, Options{ProduceTimeout: 30 * time.Second})

	const workers = 8
	type sent struct {
		req      string
		ids      []int64 // event ids, first and count
		status   int
		accepted float64
	}
	var (
		mu        sync.Mutex
		results   []sent
		latencies []time.Duration
		seq       atomic.Int64
		reqSeq    atomic.Int64
		wg        sync.WaitGroup
	)
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	deadline := time.Now().Add(10 * time.Second)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []sent
			var lat []time.Duration
			for i := w; time.Now().Before(deadline); i += workers {
				n := 1 + i%37 // sizes 1..37
				ctype, shape := "application/json", i%3
				if shape == 0 {
					n = 1
				}
				first := seq.Add(int64(n)) - int64(n)
				var body strings.Builder
				ev := func(k int) string {
					return fmt.Sprintf(`{"event_type":"load","id":%d,"shape":%d}`, first+int64(k), shape)
				}
				switch shape {
				case 0:
					body.WriteString(ev(0))
				case 1:
					body.WriteByte('[')
					for k := 0; k < n; k++ {
						if k > 0 {
							body.WriteByte(',')
						}
						body.WriteString(ev(k))
					}
					body.WriteByte(']')
				case 2:
					ctype = "application/x-ndjson"
					for k := 0; k < n; k++ {
						body.WriteString(ev(k))
						body.WriteByte('\n')
					}
				}
				s := sent{req: fmt.Sprintf("load-%d", reqSeq.Add(1)), ids: make([]int64, n)}
				for k := range s.ids {
					s.ids[k] = first + int64(k)
				}
				req, _ := http.NewRequest("POST", srv.URL+"/events", strings.NewReader(body.String()))
				req.Header.Set("Content-Type", ctype)
				req.Header.Set("X-Request-ID", s.req)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					var r struct{ Accepted float64 }
					_ = json.NewDecoder(resp.Body).Decode(&r)
					resp.Body.Close()
					s.status, s.accepted = resp.StatusCode, r.Accepted
				}
				lat = append(lat, time.Since(t0))
				mine = append(mine, s)
			}
			mu.Lock()
			results = append(results, mine...)
			latencies = append(latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, col.Close(ctx))

	// reqOf[id] is the request that carried event id, when it was acked.
	maxID := seq.Load()
	reqOf := make([]string, maxID)
	var ackedEvents, ackedReqs int64
	codes := map[int]int{}
	for _, s := range results {
		codes[s.status]++
		if s.status != http.StatusAccepted {
			continue
		}
		require.Equal(t, float64(len(s.ids)), s.accepted, "request %s", s.req)
		ackedReqs++
		for _, id := range s.ids {
			reqOf[id] = s.req
			ackedEvents++
		}
	}
	// The stack's Kafka is up and the buffer large: anything but 202 is a
	// collector failure, and its events could be strays below.
	require.Equal(t, map[int]int{http.StatusAccepted: len(results)}, codes, "answers by status")
	require.Positive(t, ackedReqs)

	seen := make([]uint8, maxID)
	var records, stray int64
	var firstStray string
	eachRecord(t, brokers, topic, func(r *kgo.Record) {
		records++
		var m struct {
			ID *int64 `json:"id"`
		}
		ok := json.Unmarshal(r.Value, &m) == nil && m.ID != nil && *m.ID >= 0 && *m.ID < maxID &&
			reqOf[*m.ID] != "" && len(r.Headers) == 1 && string(r.Headers[0].Value) == reqOf[*m.ID]
		if !ok {
			stray++
			if firstStray == "" {
				firstStray = fmt.Sprintf("%s (headers %v)", r.Value, r.Headers)
			}
			return
		}
		if seen[*m.ID] < 255 {
			seen[*m.ID]++
		}
	})
	var lost, dup int64
	for id := range reqOf {
		switch {
		case reqOf[id] == "":
		case seen[id] == 0:
			lost++
		case seen[id] > 1:
			dup++
		}
	}
	require.Zero(t, stray, "records no acknowledged request sent, or under another request's ID; first: %s", firstStray)
	require.Zero(t, lost, "acknowledged events missing from Kafka")
	require.Zero(t, dup, "acknowledged events in Kafka more than once")
	require.Equal(t, ackedEvents, records)

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
	t.Logf("load on real Kafka: %d requests (%.0f/s), %d events acknowledged (%.0f/s) and all in Kafka once, p50 %s p99 %s, %d workers, %s",
		len(latencies), float64(len(latencies))/elapsed.Seconds(), ackedEvents, float64(ackedEvents)/elapsed.Seconds(),
		latencies[len(latencies)/2].Round(10*time.Microsecond), p99.Round(10*time.Microsecond), workers, elapsed.Round(time.Millisecond))
}

// TestCollectorKafkaRestartIntegration stops the broker under load: the
// collector must answer 503 (never 2xx) for what it cannot store, and once
// the broker is back, every event it did acknowledge is in Kafka exactly
// once. Clients here never retry, so an unacknowledged event may be in
// Kafka at most once.
func TestCollectorKafkaRestartIntegration(t *testing.T) {
	stacktest.Get(t) // the stack installs Kafka; this test runs its own broker
	k := startOwnKafka(t)
	brokers := []string{k.addr()}
	topic := newTopic(t, brokers)
	cfg := testConfig(brokers)
	cfg.Collect.Topic = topic
	cfg.Collect.MaxBodyBytes = 1 << 20
	cfg.Collect.MaxBuffered = 2000
	col, err := New(cfg, Options{ProduceTimeout: 2 * time.Second})
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()

	var (
		mu            sync.Mutex
		acked, failed []string
		seq           atomic.Int64
		ok, unavail   atomic.Int64
		stop          = make(chan struct{})
		wg            sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var ids []string
				var body strings.Builder
				for i := 0; i < 10; i++ {
					id := fmt.Sprintf("e-%d", seq.Add(1))
					ids = append(ids, id)
					fmt.Fprintf(&body, "{\"event_type\":\"load\",\"id\":%q}\n", id)
				}
				req, _ := http.NewRequest("POST", srv.URL+"/events", strings.NewReader(body.String()))
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				status := 0
				if err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				switch status {
				case http.StatusAccepted:
					acked = append(acked, ids...)
					ok.Add(1)
				case http.StatusServiceUnavailable:
					failed = append(failed, ids...)
					unavail.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After")
					}
				default:
					t.Errorf("unexpected answer %d (%v)", status, err)
					failed = append(failed, ids...)
				}
				mu.Unlock()
				if status == http.StatusServiceUnavailable {
					time.Sleep(100 * time.Millisecond) // as a client honouring Retry-After would, roughly
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(3 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s (202s %d, 503s %d)", what, ok.Load(), unavail.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("acks before the stop", func() bool { return ok.Load() >= 100 })
	k.stop()
	downAt := ok.Load()
	waitFor("503s while kafka is down", func() bool { return unavail.Load() >= 8 })
	k.start()
	waitFor("acks after the restart", func() bool { return ok.Load() >= downAt+100 })
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, col.Close(ctx))

	got := map[string]int{}
	for _, r := range readTopic(t, brokers, topic) {
		var m struct{ ID string }
		require.NoError(t, json.Unmarshal(r.Value, &m))
		got[m.ID]++
	}
	for _, id := range acked {
		require.Equal(t, 1, got[id], "acknowledged event %s", id)
	}
	late := 0
	for _, id := range failed {
		require.LessOrEqual(t, got[id], 1, "unacknowledged event %s", id)
		late += got[id]
	}
	require.Equal(t, len(acked)+late, sumCounts(got), "records that no client sent")
	t.Logf("acknowledged %d events in %d requests, %d requests answered 503 (%d of their events were stored anyway)",
		len(acked), ok.Load(), unavail.Load(), late)
}

func sumCounts(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}
