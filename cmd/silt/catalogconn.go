package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/lake"
)

// catalogConn opens the catalog on first use and again after every failed
// attempt. A catalog that is down when silt starts (Trino still booting, a
// DuckDB file another process holds) then only delays registration,
// reports and the events API; it never disables them for the life of the
// process. Ingest sees a failed open as a failed registration, which marks
// the catalog for repair, so the first batch after the catalog is back
// registers everything the earlier ones wrote.
type catalogConn struct {
	open func(ctx context.Context) (*catalog.Catalog, error)
	log  *slog.Logger

	mu  sync.Mutex
	cat *catalog.Catalog
	api *eventsapi.API
}

func newCatalogConn(cfg *config.Config, store lake.Store, log *slog.Logger) *catalogConn {
	return &catalogConn{
		open: func(ctx context.Context) (*catalog.Catalog, error) {
			return catalog.Open(ctx, catalogOptions(cfg, log), store)
		},
		log: log,
	}
}

// get returns the open catalog, opening it if it is not yet.
func (c *catalogConn) get(ctx context.Context) (*catalog.Catalog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cat != nil {
		return c.cat, nil
	}
	cat, err := c.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	c.log.Info("catalog connected", "engine", cat.Dialect())
	c.cat = cat
	c.api = eventsapi.New(cat, c.log)
	return cat, nil
}

func (c *catalogConn) Register(ctx context.Context, changes []catalog.Change) error {
	cat, err := c.get(ctx)
	if err != nil {
		return err
	}
	return cat.Register(ctx, changes)
}

func (c *catalogConn) RepairAll(ctx context.Context, store lake.Store) error {
	cat, err := c.get(ctx)
	if err != nil {
		return err
	}
	return cat.RepairAll(ctx, store)
}

func (c *catalogConn) DropPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	cat, err := c.get(ctx)
	if err != nil {
		return err
	}
	return cat.DropPartitions(ctx, table, ps)
}

// ServeHTTP answers the events API once the catalog is open, and 503 with
// Retry-After (in the API's own envelope) while it cannot be.
func (c *catalogConn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := c.get(r.Context()); err != nil {
		c.log.Warn("events API: catalog unavailable", "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "error", "error": "catalog unavailable, try again shortly", "timestamp": time.Now().UTC().Format(time.RFC3339),
		})
		return
	}
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	api.ServeHTTP(w, r)
}

func (c *catalogConn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cat != nil {
		c.cat.Close()
		c.cat, c.api = nil, nil
	}
}
