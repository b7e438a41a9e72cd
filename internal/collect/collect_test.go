package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/silt-etl/silt/internal/config"
)

const topic = "events"

func testConfig(brokers []string) *config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Collect.MaxBodyBytes = 4096
	cfg.Collect.MaxEventBytes = 1024
	return cfg
}

func newFake(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// startCollector serves a collector on kfake; its Close runs at cleanup.
func startCollector(t *testing.T, cfg *config.Config) (*Collector, *httptest.Server) {
	t.Helper()
	col, err := New(cfg, Options{ProduceTimeout: 2 * time.Second})
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = col.Close(ctx)
	})
	return col, srv
}

// readAll consumes the topic from the start up to its current end.
func readAll(t *testing.T, brokers []string) []*kgo.Record {
	t.Helper()
	return readTopic(t, brokers, topic)
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	// err is a failed request or an unreadable answer: request never
	// fails the test itself, so it is safe inside a goroutine.
	err error
}

func do(t *testing.T, method, url, ctype, body string, hdr map[string]string) answer {
	t.Helper()
	a := request(method, url, ctype, body, hdr)
	require.NoError(t, a.err)
	return a
}

// request is do without a *testing.T, for goroutines: require there would
// end the goroutine, not the test, and hang it. Check a.err where received.
func request(method, url, ctype, body string, hdr map[string]string) answer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			a.err = fmt.Errorf("body %s: %w", raw, err)
		}
	}
	return a
}

func decode(t *testing.T, r *kgo.Record) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Value, &m), "record %s", r.Value)
	return m
}

func TestPostShapesLandOnceWithHeaders(t *testing.T) {
	kc := newFake(t)
	_, srv := startCollector(t, testConfig(kc.ListenAddrs()))
	hdr := map[string]string{"User-Agent": "test-agent/1", "Accept": "application/json", "X-Request-ID": "req-42"}

	a := do(t, "POST", srv.URL+"/events", "application/json", `{"event_type":"purchase_sword","n":1}`, hdr)
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, float64(1), a.body["accepted"])
	require.Equal(t, "req-42", a.header.Get("X-Request-ID"))

	a = do(t, "POST", srv.URL+"/events", "application/json",
		`[{"event_type":"join_guild","n":2},{"event_type":"join_guild","n":3},{"event_type":"default","n":4}]`, hdr)
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, float64(3), a.body["accepted"])
	require.NotEmpty(t, a.header.Get("X-Request-ID"))

	nd := "{\"event_type\":\"default\",\"n\":5}\n\n{\"event_type\":\"default\",\"n\":6}\r\n{\"event_type\":\"x\",\"n\":7}\n{\"event_type\":\"x\",\"n\":8}"
	a = do(t, "POST", srv.URL+"/events", "application/x-ndjson", nd, hdr)
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, float64(4), a.body["accepted"])

	recs := readAll(t, kc.ListenAddrs())
	require.Len(t, recs, 8)
	seen := map[float64]int{}
	for _, r := range recs {
		m := decode(t, r)
		seen[m["n"].(float64)]++
		require.Equal(t, "test-agent/1", m["User-Agent"])
		require.Equal(t, "application/json", m["Accept"])
		require.Equal(t, strings.TrimPrefix(srv.URL, "http://"), m["Host"])
		ts, err := time.Parse(time.RFC3339Nano, m["received_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), ts, time.Hour)
		require.Nil(t, r.Key)
		require.Len(t, r.Headers, 1)
		require.Equal(t, "request_id", r.Headers[0].Key)
	}
	for n := 1; n <= 8; n++ {
		require.Equal(t, 1, seen[float64(n)], "event n=%d", n)
	}
}

func TestClientFieldsWinButReceivedAtIsOurs(t *testing.T) {
	kc := newFake(t)
	_, srv := startCollector(t, testConfig(kc.ListenAddrs()))
	a := do(t, "POST", srv.URL+"/events", "",
		`{"event_type":"default","Host":"game-7.example.com","received_at":"1999-01-01T00:00:00Z"}`, nil)
	require.Equal(t, http.StatusAccepted, a.status)
	recs := readAll(t, kc.ListenAddrs())
	require.Len(t, recs, 1)
	m := decode(t, recs[0])
	require.Equal(t, "game-7.example.com", m["Host"])
	require.NotEqual(t, "1999-01-01T00:00:00Z", m["received_at"])
	require.Equal(t, 1, strings.Count(string(recs[0].Value), `"received_at"`))
}

func TestGetRoutes(t *testing.T) {
	kc := newFake(t)
	_, srv := startCollector(t, testConfig(kc.ListenAddrs()))
	for _, p := range []string{"/", "/purchase_a_sword", "/join_the_guild", "/join_the_guild"} {
		a := do(t, "GET", srv.URL+p, "", "", map[string]string{"User-Agent": "ApacheBench/2.3", "Accept": "*/*"})
		require.Equal(t, http.StatusAccepted, a.status, p)
	}
	require.Equal(t, http.StatusNotFound, do(t, "GET", srv.URL+"/nope", "", "", nil).status)

	counts := map[string]int{}
	for _, r := range readAll(t, kc.ListenAddrs()) {
		m := decode(t, r)
		counts[m["event_type"].(string)]++
		require.Equal(t, "ApacheBench/2.3", m["User-Agent"])
		require.Equal(t, "*/*", m["Accept"])
		require.NotEmpty(t, m["Host"])
	}
	require.Equal(t, map[string]int{"default": 1, "purchase_sword": 1, "join_guild": 2}, counts)
}

func TestRejectionsStoreNothing(t *testing.T) {
	kc := newFake(t)
	cfg := testConfig(kc.ListenAddrs())
	_, srv := startCollector(t, cfg)
	big := `{"event_type":"x","pad":"` + strings.Repeat("a", 2000) + `"}`
	cases := []struct {
		name, ctype, body string
		status            int
		errHas            string
	}{
		{"truncated object", "application/json", `{"event_type":"x",`, 400, "byte 18"},
		{"bad token in array", "application/json", "[{\"event_type\":\"x\"},\n {\"event_type\": nope}]", 400, "line 2"},
		{"bad ndjson line", "application/x-ndjson", "{\"event_type\":\"x\"}\n{\"event_type\":\"x\"}\n{oops}\n", 400, "line 3"},
		{"missing event_type", "", `{"user":"u1"}`, 422, `missing "event_type"`},
		{"empty event_type", "", `{"event_type":""}`, 422, "non-empty string"},
		{"numeric event_type", "", `{"event_type":7}`, 422, "non-empty string"},
		{"one bad in array", "", `[{"event_type":"x"},{"nope":1}]`, 422, "event 1"},
		{"scalar body", "", `42`, 422, "number"},
		{"empty array", "", `[]`, 422, "empty array"},
		{"event too large", "", big, 413, "limit is 1024"},
		{"body too large", "", `[` + strings.Repeat(`{"event_type":"x"},`, 300) + `{"event_type":"x"}]`, 413, "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, "POST", srv.URL+"/events", tc.ctype, tc.body, nil)
			require.Equal(t, tc.status, a.status, "%v", a.body)
			require.Equal(t, "error", a.body["status"])
			require.Contains(t, a.body["error"], tc.errHas)
			require.NotEmpty(t, a.body["request_id"])
		})
	}
	require.Empty(t, readAll(t, kc.ListenAddrs()))
}

func TestBearerToken(t *testing.T) {
	kc := newFake(t)
	cfg := testConfig(kc.ListenAddrs())
	cfg.Collect.Token = "s3cret"
	_, srv := startCollector(t, cfg)
	ev := `{"event_type":"x"}`
	require.Equal(t, 401, do(t, "POST", srv.URL+"/events", "", ev, nil).status)
	require.Equal(t, 401, do(t, "POST", srv.URL+"/events", "", ev, map[string]string{"Authorization": "Bearer wrong"}).status)
	require.Equal(t, 401, do(t, "GET", srv.URL+"/", "", "", nil).status)
	require.Equal(t, 202, do(t, "POST", srv.URL+"/events", "", ev, map[string]string{"Authorization": "Bearer s3cret"}).status)
	require.Equal(t, 200, do(t, "GET", srv.URL+"/healthz", "", "", nil).status)
	require.Len(t, readAll(t, kc.ListenAddrs()), 1)
}

func TestKafkaDownIs503(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	require.NoError(t, err)
	cfg := testConfig(kc.ListenAddrs())
	col, err := New(cfg, Options{ProduceTimeout: time.Second})
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()
	defer func() {
		// The broker is gone: the flush gives up when ctx ends, failing
		// what no client was told is stored.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		require.Error(t, col.Close(ctx))
	}()
	require.Equal(t, 202, do(t, "POST", srv.URL+"/events", "", `{"event_type":"x"}`, nil).status)

	kc.Close()
	a := do(t, "POST", srv.URL+"/events", "", `{"event_type":"x"}`, nil)
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%v", a.body)
	require.NotEmpty(t, a.header.Get("Retry-After"))
	require.Contains(t, a.body["error"], "kafka")
	a = do(t, "GET", srv.URL+"/join_the_guild", "", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%v", a.body)
}

// holdingProducer keeps records until release, so tests can fill the
// buffer and drain deterministically.
type holdingProducer struct {
	mu      sync.Mutex
	held    []func()
	arrived chan struct{}
	closed  bool
}

func (h *holdingProducer) TryProduce(_ context.Context, r *kgo.Record, p func(*kgo.Record, error)) {
	h.mu.Lock()
	h.held = append(h.held, func() { p(r, nil) })
	h.mu.Unlock()
	h.arrived <- struct{}{}
}

func (h *holdingProducer) release() {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, f := range held {
		f()
	}
}

func (h *holdingProducer) Flush(context.Context) error { return nil }
func (h *holdingProducer) Close()                      { h.closed = true }

func TestFullBufferIs503AndTooManyIs413(t *testing.T) {
	cfg := testConfig([]string{"127.0.0.1:1"})
	hp := &holdingProducer{arrived: make(chan struct{}, 16)}
	col, err := newCollector(cfg, Options{ProduceTimeout: time.Minute}, hp, 2)
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()

	first := make(chan answer, 1)
	go func() {
		first <- request("POST", srv.URL+"/events", "", `[{"event_type":"x"},{"event_type":"y"}]`, nil)
	}()
	<-hp.arrived
	<-hp.arrived
	require.Equal(t, int64(2), col.Buffered())

	a := do(t, "POST", srv.URL+"/events", "", `{"event_type":"x"}`, nil)
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Equal(t, "1", a.header.Get("Retry-After"))
	require.Contains(t, a.body["error"], "buffer full")

	a = do(t, "POST", srv.URL+"/events", "", `[{"event_type":"x"},{"event_type":"x"},{"event_type":"x"}]`, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status)

	hp.release()
	a = <-first
	require.NoError(t, a.err)
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, float64(2), a.body["accepted"])
	require.Equal(t, int64(0), col.Buffered())
}

func TestServeDrainsInFlight(t *testing.T) {
	cfg := testConfig([]string{"127.0.0.1:1"})
	hp := &holdingProducer{arrived: make(chan struct{}, 16)}
	col, err := newCollector(cfg, Options{ProduceTimeout: time.Minute}, hp, 10)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- col.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	got := make(chan answer, 1)
	go func() { got <- request("POST", url+"/events", "", `{"event_type":"x"}`, nil) }()
	<-hp.arrived
	cancel() // shutdown starts while the request waits for its ack

	select {
	case err := <-served:
		t.Fatalf("Serve returned %v before the in-flight request finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	hp.release()
	acked := <-got
	require.NoError(t, acked.err)
	require.Equal(t, http.StatusAccepted, acked.status)
	require.NoError(t, <-served)
	require.True(t, hp.closed)
}

// A client's host field wins over the Host header, whatever the case: two
// fields naming one column would make ingest dead-letter the event.
func TestClientFieldWinsOverHeaderOfTheSameColumn(t *testing.T) {
	en := &enricher{typeField: "event_type", headers: []string{"Host", "User-Agent"}}
	var p fastjson.Parser
	x := &extraFields{receivedAt: "2026-11-22T00:00:00Z", headers: [][2]string{{"Host", "collector:8322"}, {"User-Agent", "curl/8"}}}
	evs, err := en.parseBody(&p, []byte(`{"event_type":"join_guild","host":"game-7"}`), false, x)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	v, err := fastjson.ParseBytes(evs[0])
	require.NoError(t, err)
	require.Equal(t, "game-7", string(v.GetStringBytes("host")))
	require.Nil(t, v.Get("Host"), "the header must not be added beside the client's host")
	require.Equal(t, "curl/8", string(v.GetStringBytes("User-Agent")))
}

// The same bad token is reported at the same 1-based column whether it is
// in an object body, an array body or an NDJSON line: column 16 is the x
// of xyz, byte 16 of its line.
func TestMalformedJSONColumnsAgree(t *testing.T) {
	en := &enricher{typeField: "event_type"}
	var p fastjson.Parser
	x := &extraFields{receivedAt: "2026-11-22T00:00:00Z"}
	bad := `{"event_type": xyz}`
	cases := []struct {
		name, body string
		ndjson     bool
		want       string
	}{
		{"object", bad, false, "at byte 16 (line 1, column 16)"},
		{"array", "[{\"event_type\":\"x\"},\n" + bad + "]", false, "at byte 37 (line 2, column 16)"},
		{"ndjson", "{\"event_type\":\"x\"}\n" + bad + "\n", true, "at byte 35 (line 2, column 16)"},
		{"ndjson first line", bad + "\n", true, "at byte 16 (line 1, column 16)"},
		// Input that ends early points at its last byte.
		{"truncated object", `{"event_type":"x",`, false, "at byte 18 (line 1, column 18)"},
		{"truncated ndjson", "{\"event_type\":\"x\"}\n{\"event_type\":\"x\",\n", true, "at byte 37 (line 2, column 18)"},
		{"bad first byte", `x`, false, "at byte 1 (line 1, column 1)"},
		{"bad byte after a newline", "{\"a\":\n}", false, "at byte 7 (line 2, column 1)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := en.parseBody(&p, []byte(tc.body), tc.ndjson, x)
			var re *requestError
			require.ErrorAs(t, err, &re)
			require.Equal(t, http.StatusBadRequest, re.status)
			require.Contains(t, re.msg, "malformed JSON "+tc.want)
		})
	}
}

func TestPosition(t *testing.T) {
	b := []byte("ab\ncde\n\nf")
	for _, tc := range []struct{ off, line, col int }{
		{1, 1, 1}, {2, 1, 2}, {3, 1, 3}, // the newline ends line 1
		{4, 2, 1}, {6, 2, 3}, {8, 3, 1}, {9, 4, 1},
		{0, 1, 1}, {99, 4, 1}, // out of range: clamped to the first and last byte
	} {
		line, col := position(b, tc.off)
		require.Equal(t, [2]int{tc.line, tc.col}, [2]int{line, col}, "off %d", tc.off)
	}
	line, col := position(nil, 0)
	require.Equal(t, [2]int{1, 1}, [2]int{line, col})
}

// The configured acks reach the producer: all is idempotent (kgo's retries
// never duplicate a record), leader and none cannot be.
func TestAcksMapToProducerOptions(t *testing.T) {
	kc := newFake(t)
	for _, tc := range []struct {
		acks          string
		want          kgo.Acks
		nonIdempotent bool
	}{
		{"all", kgo.AllISRAcks(), false},
		{"leader", kgo.LeaderAck(), true},
		{"none", kgo.NoAck(), true},
	} {
		t.Run(tc.acks, func(t *testing.T) {
			cfg := testConfig(kc.ListenAddrs())
			cfg.Kafka.Acks = tc.acks
			col, err := New(cfg, Options{})
			require.NoError(t, err)
			defer func() { require.NoError(t, col.Close(context.Background())) }()
			cl, ok := col.prod.(*kgo.Client)
			require.True(t, ok, "the producer is a *kgo.Client")
			require.Equal(t, tc.want, cl.OptValue(kgo.RequiredAcks))
			require.Equal(t, tc.nonIdempotent, cl.OptValue(kgo.DisableIdempotentWrite))
			// And they publish: the ack level is one the broker accepts.
			srv := httptest.NewServer(col.Handler())
			defer srv.Close()
			a := do(t, "POST", srv.URL+"/events", "", `{"event_type":"acks_`+tc.acks+`"}`, nil)
			require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
		})
	}
	counts := map[string]int{}
	for _, r := range readAll(t, kc.ListenAddrs()) {
		counts[decode(t, r)["event_type"].(string)]++
	}
	// With acks none the broker may not have appended the record yet when
	// we read, so only the acknowledged levels are counted exactly.
	require.Equal(t, 1, counts["acks_all"])
	require.Equal(t, 1, counts["acks_leader"])
	require.LessOrEqual(t, counts["acks_none"], 1)
	require.Len(t, counts, 2+counts["acks_none"])
}

// Close must flush what the producer holds. With kgo's manual flushing no
// record leaves the producer before Close flushes, so a request's events
// sit in the buffer until then: if Close only closed the client, kgo would
// fail them (ErrClientClosed), the request would get 503 and the topic
// would stay empty.
func TestCloseFlushesBufferedRecords(t *testing.T) {
	kc := newFake(t)
	cfg := testConfig(kc.ListenAddrs())
	col, err := New(cfg, Options{ProduceTimeout: time.Minute, KafkaOpts: []kgo.Opt{kgo.ManualFlushing()}})
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()

	got := make(chan answer, 1)
	go func() {
		got <- request("POST", srv.URL+"/events", "application/x-ndjson",
			"{\"event_type\":\"x\",\"n\":1}\n{\"event_type\":\"x\",\"n\":2}\n{\"event_type\":\"x\",\"n\":3}\n", nil)
	}()
	for deadline := time.Now().Add(time.Minute); col.Buffered() < 3; time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the request's events never reached the producer (buffered %d)", col.Buffered())
	}
	require.Empty(t, readAll(t, kc.ListenAddrs()), "nothing is sent before the flush")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, col.Close(ctx))
	a := <-got
	require.NoError(t, a.err)
	require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
	require.Equal(t, float64(3), a.body["accepted"])
	require.Equal(t, int64(0), col.Buffered())
	var ns []float64
	for _, r := range readAll(t, kc.ListenAddrs()) {
		ns = append(ns, decode(t, r)["n"].(float64))
	}
	require.ElementsMatch(t, []float64{1, 2, 3}, ns)
}
