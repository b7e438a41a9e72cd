package gen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const tickTemplate = `{"event_type":"tick","seq":{{seq}},"ts":{{now_s}},"ms":{{now_ms}},"at":"{{now}}",
 "symbol":"{{choice "ACME" "GLOBX" "say \"hi\""}}","qty":{{int 1 3}},"price":{{float 10 20}}}`

func TestTemplateFillsPlaceholders(t *testing.T) {
	tpl, err := ParseTemplate("tick.json", tickTemplate)
	require.NoError(t, err)
	src := tpl.Source(7)
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	symbols := map[string]int{}
	qtys := map[float64]int{}
	for i := 1; i <= 300; i++ {
		ev := src.Next(nil, at)
		var m map[string]any
		require.NoError(t, json.Unmarshal(ev.JSON, &m), "%s", ev.JSON)
		require.Equal(t, "tick", ev.Type)
		require.Equal(t, float64(i), m["seq"])
		require.Equal(t, float64(at.Unix()), m["ts"])
		require.Equal(t, float64(at.UnixMilli()), m["ms"])
		require.Equal(t, "2026-01-02T03:04:05.678Z", m["at"])
		symbols[m["symbol"].(string)]++
		qtys[m["qty"].(float64)]++
		price := m["price"].(float64)
		require.True(t, price >= 10 && price <= 20, "price %v", price)
	}
	require.Len(t, symbols, 3, "every choice comes up: %v", symbols)
	require.Contains(t, symbols, `say "hi"`, "a choice is JSON-escaped")
	require.Len(t, qtys, 3, "int 1 3 gives 1, 2 and 3: %v", qtys)
	for q := range qtys {
		require.Contains(t, []float64{1, 2, 3}, q)
	}
}

func TestTemplateSameSeedSameEvents(t *testing.T) {
	tpl, err := ParseTemplate("tick.json", tickTemplate)
	require.NoError(t, err)
	at := time.Unix(1465484000, 0)
	a, b, c := tpl.Source(42), tpl.Source(42), tpl.Source(43)
	same, differ := true, false
	for range 50 {
		ea, eb, ec := a.Next(nil, at), b.Next(nil, at), c.Next(nil, at)
		same = same && string(ea.JSON) == string(eb.JSON)
		differ = differ || string(ea.JSON) != string(ec.JSON)
	}
	require.True(t, same, "seed 42 twice gives the same events")
	require.True(t, differ, "another seed gives other events")
}

func TestTemplateErrorsNameThePlaceholder(t *testing.T) {
	for text, want := range map[string]string{
		`{"a":{{rand}}}`:        `{{rand}}: unknown placeholder "rand"`,
		`{"a":{{int 5 1}}}`:     "5 is above 1",
		`{"a":{{int 1.5 3}}}`:   "int takes whole numbers",
		`{"a":{{float x 3}}}`:   `"x" is not a number`,
		`{"a":"{{choice}}"}`:    "at least one string",
		`{"a":{{seq}`:           "has no closing }}",
		`{"a":{{choice "x"}}}`:  "is not a JSON object once filled in",
		`{"a":"{{choice "x}}"}`: "unterminated string",
		`[{"event_type":"x"}]`:  "is not a JSON object",
		`{"a":{{seq 1}}}`:       "seq takes no arguments",
	} {
		_, err := ParseTemplate("t.json", text)
		require.ErrorContains(t, err, want, text)
		require.ErrorContains(t, err, "t.json", text)
	}
}

// memorySink keeps every event it is sent.
type memorySink struct {
	mu     sync.Mutex
	events []Event
}

func (m *memorySink) Send(_ context.Context, batch []Event, done func(Event, error)) {
	m.mu.Lock()
	m.events = append(m.events, batch...)
	m.mu.Unlock()
	for _, ev := range batch {
		done(ev, nil)
	}
}

func (m *memorySink) Close(context.Context) error { return nil }

func TestRunWithTemplate(t *testing.T) {
	tpl, err := ParseTemplate("click.json", `{"event_type":"{{choice "user_click" "user_view"}}","timestamp":{{now_ms}},"host":"web-1"}`)
	require.NoError(t, err)
	sink := &memorySink{}
	res, err := Run(context.Background(), Options{Seed: 5, Count: 200, Batch: 7, Workers: 1, Template: tpl}, sink)
	require.NoError(t, err)
	require.EqualValues(t, 200, res.Accepted)
	counts := map[string]int64{}
	for _, ev := range sink.events {
		var m struct {
			Type string `json:"event_type"`
		}
		require.NoError(t, json.Unmarshal(ev.JSON, &m))
		counts[m.Type]++
	}
	require.Len(t, counts, 2)
	require.Equal(t, counts["user_click"], res.PerKey[Key{"user_click", "web-1"}])
	require.Equal(t, counts["user_view"], res.PerKey[Key{"user_view", "web-1"}])
}

// With a post path, batches go where the collector takes them
// (collect.post_paths), e.g. the Flask API's /api/events.
func TestHTTPSinkPostPath(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	tpl, err := ParseTemplate("click.json", `{"event_type":"user_click","timestamp":{{now_ms}}}`)
	require.NoError(t, err)
	res, err := Run(context.Background(), Options{Seed: 1, Count: 30, Batch: 10, Workers: 1, Template: tpl},
		NewHTTPSink(srv.URL, "", nil, 1).WithPostPath("/api/events"))
	require.NoError(t, err)
	require.EqualValues(t, 30, res.Accepted)
	require.Equal(t, map[string]int{"POST /api/events": 3}, paths)
}
