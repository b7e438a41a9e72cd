//go:build integration

package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// newTopic makes a fresh topic so runs never see each other's records.
func newTopic(t *testing.T, brokers []string) string {
	t.Helper()
	name := fmt.Sprintf("collect-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	return name
}

func realCollector(t *testing.T, brokers []string, topic string, edit func(*config.Config)) *httptest.Server {
	t.Helper()
	cfg := testConfig(brokers)
	cfg.Collect.Topic = topic
	if edit != nil {
		edit(cfg)
	}
	col, err := New(cfg, Options{ProduceTimeout: 5 * time.Second})
	require.NoError(t, err)
	srv := httptest.NewServer(col.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, col.Close(ctx))
	})
	return srv
}

func TestCollectorIntegration(t *testing.T) {
	brokers := stacktest.Get(t).KafkaBrokers
	topic := newTopic(t, brokers)
	srv := realCollector(t, brokers, topic, func(c *config.Config) { c.Collect.Token = "tok" })
	auth := map[string]string{"Authorization": "Bearer tok", "User-Agent": "it/1", "Accept": "text/plain"}

	// 1 + 40 + 60 POSTed, 3 GETs: every one must be in Kafka once.
	want := 0
	post := func(ctype, body string, n int) {
		a := do(t, "POST", srv.URL+"/events", ctype, body, auth)
		require.Equal(t, http.StatusAccepted, a.status, "%v", a.body)
		require.Equal(t, float64(n), a.body["accepted"])
		want += n
	}
	post("application/json", `{"event_type":"purchase_sword","id":"s-0"}`, 1)
	var arr, nd []string
	for i := 0; i < 40; i++ {
		arr = append(arr, fmt.Sprintf(`{"event_type":"join_guild","id":"a-%d"}`, i))
	}
	post("application/json", "["+strings.Join(arr, ",")+"]", 40)
	for i := 0; i < 60; i++ {
		nd = append(nd, fmt.Sprintf(`{"event_type":"default","id":"n-%d"}`, i))
	}
	post("application/x-ndjson", strings.Join(nd, "\n")+"\n", 60)
	for i, p := range []string{"/", "/purchase_a_sword", "/join_the_guild"} {
		h := map[string]string{"Authorization": "Bearer tok", "User-Agent": fmt.Sprintf("route/%d", i), "Accept": "*/*"}
		require.Equal(t, http.StatusAccepted, do(t, "GET", srv.URL+p, "", "", h).status)
		want++
	}

	// Every error status, none of which may store anything.
	for _, tc := range []struct {
		method, path, ctype, body string
		hdr                       map[string]string
		status                    int
	}{
		{"POST", "/events", "", `{"event_type":"x"}`, nil, 401},
		{"GET", "/join_the_guild", "", "", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"POST", "/events", "", `{"event_type":"x"`, auth, 400},
		{"POST", "/events", "application/x-ndjson", "{\"event_type\":\"x\"}\n{\n", auth, 400},
		{"POST", "/events", "", `[{"event_type":"x"},{"id":1}]`, auth, 422},
		{"POST", "/events", "", `{"event_type":"x","p":"` + strings.Repeat("z", 1100) + `"}`, auth, 413},
		{"POST", "/events", "", strings.Repeat(" ", 5000), auth, 413},
	} {
		a := do(t, tc.method, srv.URL+tc.path, tc.ctype, tc.body, tc.hdr)
		require.Equal(t, tc.status, a.status, "%s %s %.40q", tc.method, tc.path, tc.body)
	}

	recs := readTopic(t, brokers, topic)
	require.Len(t, recs, want)
	ids := map[string]int{}
	routes := map[string]string{}
	for _, r := range recs {
		m := decode(t, r)
		require.NotEmpty(t, m["received_at"])
		require.Equal(t, strings.TrimPrefix(srv.URL, "http://"), m["Host"])
		if id, ok := m["id"].(string); ok {
			ids[id]++
			require.Equal(t, "it/1", m["User-Agent"])
			require.Equal(t, "text/plain", m["Accept"])
		} else {
			routes[m["User-Agent"].(string)] = m["event_type"].(string)
			require.Equal(t, "*/*", m["Accept"])
		}
	}
	require.Len(t, ids, 101)
	for id, n := range ids {
		require.Equal(t, 1, n, id)
	}
	require.Equal(t, map[string]string{"route/0": "default", "route/1": "purchase_sword", "route/2": "join_guild"}, routes)
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
