package gen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// HTTPSink sends events to a silt collector: batches as NDJSON to
// POST /events, or, like ApacheBench against the seed's game API, one GET
// per event on the route of its type with its host as the Host header.
type HTTPSink struct {
	base   string
	client *http.Client
	token  string
	// routes maps an event type to its GET path; nil means POST batches.
	routes map[string]string
	// postPath is where batches are POSTed (collect.post_paths).
	postPath string
}

// NewHTTPSink sends to the collector at base (http://host:port). With
// routes (event type -> path) it uses the GET routes instead of POST.
func NewHTTPSink(base, token string, routes map[string]string, conns int) *HTTPSink {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(conns, 2)
	return &HTTPSink{
		base:     strings.TrimRight(base, "/"),
		client:   &http.Client{Transport: tr, Timeout: time.Minute},
		token:    token,
		routes:   routes,
		postPath: "/events",
	}
}

// WithPostPath makes batches go to path (one of the collector's
// collect.post_paths) instead of /events.
func (h *HTTPSink) WithPostPath(path string) *HTTPSink {
	if path != "" {
		h.postPath = path
	}
	return h
}

func (h *HTTPSink) Send(ctx context.Context, batch []Event, done func(Event, error)) {
	if h.routes != nil {
		for _, ev := range batch {
			done(ev, h.get(ctx, ev))
		}
		return
	}
	var body bytes.Buffer
	for _, ev := range batch {
		body.Write(ev.JSON)
		body.WriteByte('\n')
	}
	err := h.do(ctx, http.MethodPost, h.base+h.postPath, "", &body)
	for _, ev := range batch {
		done(ev, err)
	}
}

func (h *HTTPSink) get(ctx context.Context, ev Event) error {
	path, ok := h.routes[ev.Type]
	if !ok {
		return fmt.Errorf("no GET route for event type %q", ev.Type)
	}
	return h.do(ctx, http.MethodGet, h.base+path, ev.Host, nil)
}

func (h *HTTPSink) do(ctx context.Context, method, url, host string, body io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("User-Agent", "silt-gen/1")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Close has nothing outstanding: every Send waited for its answer.
func (h *HTTPSink) Close(context.Context) error {
	h.client.CloseIdleConnections()
	return nil
}
