// Package eventsapi answers "how many X between t1 and t2" and "show me
// them" over the lake, through whichever engine the catalog runs (Trino or
// DuckDB). It is an http.Handler so the collector and silt run's status
// server can both mount it.
package eventsapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// engine is the part of catalog.Catalog the API queries through; tests
// hand it a DuckDB with tables of their own.
type engine interface {
	DB() *sql.DB
	Dialect() catalog.Dialect
	Qualified(table string) string
	Columns(ctx context.Context) (map[string][]lake.Column, error)
	// ReportTables is the set of names that store a report's output: not
	// event types, so not counted or searched.
	ReportTables(ctx context.Context, names []string) (map[string]bool, error)
	// Layout is the tables' partition layout, whose keys the time range
	// prunes on.
	Layout() lake.Layout
	// Iceberg says the tables are Iceberg tables (table_format iceberg):
	// they have no partition key columns, and Iceberg prunes their
	// hour(event_time) partitions from the event_time bounds themselves.
	Iceberg() bool
}

// API serves GET /api/events/count and GET /api/events/search.
type API struct {
	eng engine
	log *slog.Logger
	mux *http.ServeMux
	// now stamps responses; tests fix it.
	now func() time.Time

	mu       sync.Mutex
	tables   map[string]map[string]bool // table -> column set
	tablesAt time.Time
}

// tablesTTL bounds how stale the list of tables may be: listing asks
// information_schema, which costs Trino a round of metastore calls.
const tablesTTL = 5 * time.Second

// New serves the API over eng (a *catalog.Catalog).
func New(eng engine, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{eng: eng, log: log, mux: http.NewServeMux(), now: time.Now}
	a.mux.HandleFunc("GET /api/events/count", a.count)
	a.mux.HandleFunc("GET /api/events/search", a.search)
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// eventTables is every registered event table with its columns, without
// the dead-letter table and report tables (neither is an event type).
func (a *API) eventTables(ctx context.Context) (map[string]map[string]bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tables != nil && time.Since(a.tablesAt) < tablesTTL {
		return a.tables, nil
	}
	cols, err := a.eng.Columns(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cols))
	for t := range cols {
		names = append(names, t)
	}
	reports, err := a.eng.ReportTables(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]bool, len(cols))
	for t, cs := range cols {
		if t == lake.DeadLetterTable || reports[t] {
			continue
		}
		set := make(map[string]bool, len(cs))
		for _, c := range cs {
			set[c.Name] = true
		}
		out[t] = set
	}
	a.tables, a.tablesAt = out, time.Now()
	return out, nil
}

func sortedNames(m map[string]map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// badRequest is a problem with the caller's parameters: 400, message shown.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func (a *API) ok(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "result": result, "timestamp": a.now().UTC().Format(time.RFC3339)})
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	if errors.As(err, &br) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "error", "error": br.msg, "timestamp": a.now().UTC().Format(time.RFC3339)})
		return
	}
	// Engine errors can carry SQL and internals: logged, not shown.
	a.log.Error("events api query failed", "path", r.URL.Path, "query", r.URL.RawQuery, "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]any{"status": "error", "error": "query failed, see the server log", "timestamp": a.now().UTC().Format(time.RFC3339)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
