// Package web is silt run's HTTP listener: /healthz, /readyz, Prometheus
// /metrics and a server-rendered status page at /. Other parts of silt
// mount their handlers with Handle.
package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/silt-etl/silt/internal/probe"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/silt-etl/silt/scheduler"
)

// Jobs is what the status page needs of the scheduler.
type Jobs interface {
	Status() []scheduler.JobStatus
}

// Tables lists the lake's tables for the status page.
type Tables interface {
	Tables(ctx context.Context) ([]TableInfo, error)
}

// TableInfo is one table as the status page shows it.
type TableInfo struct {
	Name       string
	Partitions int
	// Latest is the newest partition, e.g. dt=2024-03-01/hour=12.
	Latest string
}

// Lag reports consumer lag per Kafka partition.
type Lag interface {
	Lag(ctx context.Context) ([]PartitionLag, error)
}

// PartitionLag is how far the consumer group is behind on one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// Freshness reports, per table, how old its newest committed event is and
// how long records take from Kafka to the lake.
type Freshness interface {
	Freshness(ctx context.Context) ([]TableFreshness, error)
}

// TableFreshness is one table's freshness as the status page shows it.
type TableFreshness struct {
	Table       string
	NewestEvent time.Time
	Age         time.Duration
	CommittedAt time.Time
	// LatencyMin and LatencyMax are the last batch's newest and oldest
	// record's wait from Kafka append to commit; LatencyMean is over every
	// committed record.
	LatencyMin, LatencyMax, LatencyMean time.Duration
}

// Options configure a Server; every source is optional.
type Options struct {
	Jobs      Jobs
	Tables    Tables
	Lag       Lag
	Freshness Freshness
	// TableStats is the tables view (/tables): rows, bytes, files, small
	// files, columns per table (LakeTableStats).
	TableStats TableStatsSource
	// DeadLetters is the dead-letters view (/deadletters).
	DeadLetters DeadLetters
	// Charts are the time series drawn at the top of the status page
	// (NewTimeSeries; its owner runs its sampling).
	Charts *TimeSeries
	// ReportsDir holds <name>/latest.csv per report.
	ReportsDir string
	// Gatherer serves /metrics; default prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Ready answers /readyz; nil means always ready.
	Ready func() error
	// Connections are the latest checks of each service silt reaches
	// (Kafka, the lake, the catalog), shown at the top of the page.
	Connections func() []probe.Result
	Logger      *slog.Logger
	// Now is the page's clock; default time.Now.
	Now func() time.Time
}

// Server is the HTTP listener. It is an http.Handler.
type Server struct {
	opts Options
	mux  *http.ServeMux
}

// New builds the server with its built-in routes.
func New(opts Options) *Server {
	if opts.Gatherer == nil {
		opts.Gatherer = prometheus.DefaultGatherer
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	s.mux.HandleFunc("GET /tables", s.tablesView)
	s.mux.HandleFunc("GET /deadletters", s.deadLettersView)
	return s
}

// Handle mounts an extra handler, e.g. the events API.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ready")
}

// Serve serves on ln until ctx ends, then shuts down, giving requests in
// flight a few seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}
