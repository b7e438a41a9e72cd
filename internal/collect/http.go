package collect

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/silt-etl/silt/internal/config"
)

var parsers = sync.Pool{New: func() any { return new(fastjson.Parser) }}

func (c *Collector) routes(opts Options) (http.Handler, error) {
	mux := http.NewServeMux()
	postPaths := c.cfg.PostPaths
	if len(postPaths) == 0 {
		postPaths = []string{"/events"}
	}
	for _, path := range postPaths {
		pat, err := routePattern(path)
		if err != nil {
			return nil, fmt.Errorf("collect.post_paths: %w", err)
		}
		mux.Handle("POST "+strings.TrimPrefix(pat, "GET "), c.wrap("events", c.auth(http.HandlerFunc(c.postEvents))))
	}
	for path, typ := range c.cfg.Routes {
		pat, err := routePattern(path)
		if err != nil {
			return nil, err
		}
		mux.Handle(pat, c.wrap("route", c.auth(c.getRoute(typ, c.cfg.Responses[path]))))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	if opts.API != nil {
		mux.Handle("/api/", c.wrap("api", c.auth(opts.API)))
	}
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	return mux, nil
}

// statusWriter remembers the status for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

type reqIDKey struct{}

// wrap gives every request an ID (the client's X-Request-ID when it is
// sane, else a fresh one), echoes it, and counts and logs the answer.
func (c *Collector) wrap(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !saneID(id) {
			id = newID()
		}
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(withRequestID(r.Context(), id))
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		c.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		c.metrics.latency.Observe(time.Since(start).Seconds())
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelWarn
		}
		c.log.Log(r.Context(), level, "collect request", "request_id", id, "method", r.Method,
			"path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	})
}

func saneID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// auth checks the bearer token when one is configured.
func (c *Collector) auth(next http.Handler) http.Handler {
	if c.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + c.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="silt"`)
			writeError(w, r, reject(http.StatusUnauthorized, "missing or wrong bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *Collector) postEvents(w http.ResponseWriter, r *http.Request) {
	max := int64(c.cfg.MaxBodyBytes)
	if max > 0 && r.ContentLength > max {
		c.fail(w, r, 0, reject(http.StatusRequestEntityTooLarge, "body is %d bytes, the limit is %d", r.ContentLength, max))
		return
	}
	body := r.Body
	if max > 0 {
		body = http.MaxBytesReader(w, r.Body, max)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = reject(http.StatusRequestEntityTooLarge, "body exceeds the limit of %d bytes", max)
		} else {
			err = reject(http.StatusBadRequest, "read body: %v", err)
		}
		c.fail(w, r, 0, err)
		return
	}
	p := parsers.Get().(*fastjson.Parser)
	events, err := c.en.parseBody(p, raw, isNDJSON(r.Header.Get("Content-Type")), c.en.extras(r, time.Now()))
	parsers.Put(p)
	if err != nil {
		c.fail(w, r, 0, err)
		return
	}
	if int64(len(events)) > c.adm.max {
		c.fail(w, r, len(events), reject(http.StatusRequestEntityTooLarge,
			"%d events in one request, more than the collector buffers (%d): split the request", len(events), c.adm.max))
		return
	}
	if err := c.publish(r.Context(), events, requestID(r)); err != nil {
		c.fail(w, r, len(events), err)
		return
	}
	c.accepted(w, len(events))
}

// getRoute records one event of eventType per request and, once Kafka has
// it, answers resp (a zero resp: 202 with {"accepted":1}).
func (c *Collector) getRoute(eventType string, resp config.RouteResponse) http.Handler {
	ctype := resp.ContentType
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := c.en.routeEvent(eventType, c.en.extras(r, time.Now()))
		if err := c.publish(r.Context(), [][]byte{ev}, requestID(r)); err != nil {
			c.fail(w, r, 1, err)
			return
		}
		if resp.Status == 0 {
			c.accepted(w, 1)
			return
		}
		c.metrics.events.WithLabelValues("accepted").Inc()
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(resp.Status)
		_, _ = io.WriteString(w, resp.Body)
	})
}

func isNDJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return true
	}
	return false
}

func (c *Collector) accepted(w http.ResponseWriter, n int) {
	c.metrics.events.WithLabelValues("accepted").Add(float64(n))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(strconv.AppendInt([]byte(`{"accepted":`), int64(n), 10))
	_, _ = w.Write([]byte("}\n"))
}

// fail answers err; n is how many events the request carried, when known.
func (c *Collector) fail(w http.ResponseWriter, r *http.Request, n int, err error) {
	if n == 0 {
		n = 1
	}
	c.metrics.events.WithLabelValues("rejected").Add(float64(n))
	writeError(w, r, err)
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var re *requestError
	if errors.As(err, &re) {
		status = re.status
	}
	if status == http.StatusServiceUnavailable {
		// Buffer full clears in moments; an unreachable Kafka takes longer.
		retry := "1"
		if strings.HasPrefix(err.Error(), "kafka") {
			retry = "5"
		}
		w.Header().Set("Retry-After", retry)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"status": "error", "error": err.Error(), "request_id": requestID(r),
	})
}
