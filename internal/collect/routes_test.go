package collect

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/config"
)

// collect.post_paths replaces POST /events: the Flask API's clients post
// to /api/events, and /events is then no route at all.
func TestPostPathsAreConfigurable(t *testing.T) {
	kc := newFake(t)
	cfg := testConfig(kc.ListenAddrs())
	cfg.Collect.PostPaths = []string{"/api/events", "/v2/events"}
	_, srv := startCollector(t, cfg)

	body := `{"event_type":"user_click","timestamp":123456789809,"params":{"key":"value"}}`
	a := do(t, "POST", srv.URL+"/api/events", "application/json", body, nil)
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, float64(1), a.body["accepted"])
	a = do(t, "POST", srv.URL+"/v2/events", "application/x-ndjson", `{"event_type":"user_view"}`+"\n"+`{"event_type":"user_click"}`, nil)
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, float64(2), a.body["accepted"])
	require.Equal(t, http.StatusNotFound, do(t, "POST", srv.URL+"/events", "application/json", body, nil).status)

	counts := map[string]int{}
	for _, r := range readAll(t, kc.ListenAddrs()) {
		m := decode(t, r)
		counts[m["event_type"].(string)]++
		if m["event_type"] == "user_click" && m["params"] != nil {
			require.Equal(t, map[string]any{"key": "value"}, m["params"])
			require.Equal(t, float64(123456789809), m["timestamp"])
		}
	}
	require.Equal(t, map[string]int{"user_click": 2, "user_view": 1}, counts)
}

// A GET route with its own response answers it (the game API's 200 and
// text) only once Kafka has acknowledged the event; routes without one
// keep the 202 JSON answer.
func TestRouteResponseComesAfterTheAcknowledgement(t *testing.T) {
	cfg := testConfig([]string{"127.0.0.1:1"})
	cfg.Collect.Responses = map[string]config.RouteResponse{
		"/purchase_a_sword": {Status: http.StatusOK, Body: "You bought a sword!\n"},
	}
	hp := &holdingProducer{arrived: make(chan struct{}, 16)}
	col, err := newCollector(cfg, Options{ProduceTimeout: time.Minute}, hp, 10)
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()

	type textAnswer struct {
		status int
		ctype  string
		body   string
		err    error
	}
	answered := make(chan textAnswer, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/purchase_a_sword")
		if err != nil {
			answered <- textAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- textAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: string(b), err: err}
	}()
	<-hp.arrived
	select {
	case a := <-answered:
		t.Fatalf("answered %d %q before Kafka acknowledged the event", a.status, a.body)
	default:
	}
	hp.release()
	a := <-answered
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "You bought a sword!\n", a.body)
	require.Equal(t, "text/plain; charset=utf-8", a.ctype)

	other := make(chan answer, 1)
	go func() { other <- request("GET", srv.URL+"/join_the_guild", "", "", nil) }()
	<-hp.arrived
	hp.release()
	b := <-other
	require.NoError(t, b.err)
	require.Equal(t, http.StatusAccepted, b.status, "a route without a response keeps the default answer")
	require.Equal(t, float64(1), b.body["accepted"])
	require.True(t, strings.HasPrefix(b.header.Get("Content-Type"), "application/json"))
}

// failingProducer refuses every record, as Kafka does when it is down.
type failingProducer struct{}

func (failingProducer) TryProduce(_ context.Context, r *kgo.Record, p func(*kgo.Record, error)) {
	p(r, kgo.ErrRecordTimeout)
}
func (failingProducer) Flush(context.Context) error { return nil }
func (failingProducer) Close()                      {}

// A failed publish answers the JSON error with its status, never the
// route's own text.
func TestRouteResponseNotSentWhenKafkaFails(t *testing.T) {
	cfg := testConfig([]string{"127.0.0.1:1"})
	cfg.Collect.Responses = map[string]config.RouteResponse{"/": {Status: http.StatusOK, Body: "Welcome!\n"}}
	col, err := newCollector(cfg, Options{ProduceTimeout: time.Minute}, failingProducer{}, 10)
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()
	a := do(t, "GET", srv.URL+"/", "", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Equal(t, "error", a.body["status"])
}

// With ingest.default_event_type the collector takes events without the
// type field (ingest routes them to that table); without it, a 422.
func TestEventsWithoutTypeWhenIngestHasADefault(t *testing.T) {
	kc := newFake(t)
	tick := `{"symbol":"ACME","price":10.5,"ts":1465484000000}`
	cfg := testConfig(kc.ListenAddrs())
	_, strict := startCollector(t, cfg)
	a := do(t, "POST", strict.URL+"/events", "application/json", tick, nil)
	require.Equal(t, http.StatusUnprocessableEntity, a.status)

	cfg = testConfig(kc.ListenAddrs())
	cfg.Ingest.DefaultEventType = "tick"
	_, srv := startCollector(t, cfg)
	a = do(t, "POST", srv.URL+"/events", "application/json", tick, nil)
	require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
	a = do(t, "POST", srv.URL+"/events", "application/json", `{"event_type":"","symbol":"ACME"}`, nil)
	require.Equal(t, http.StatusUnprocessableEntity, a.status, "an empty type is still refused")

	recs := readAll(t, kc.ListenAddrs())
	require.Len(t, recs, 1)
	m := decode(t, recs[0])
	require.Equal(t, "ACME", m["symbol"])
	require.NotContains(t, m, "event_type")
}
