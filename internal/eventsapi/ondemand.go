package eventsapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/silt-etl/silt/catalog"
)

// OnDemand serves the API over a catalog that may not be open yet (see
// catalog.Lazy): each request asks get for it, and while it cannot be
// opened answers 503 with Retry-After, in the API's own envelope.
type OnDemand struct {
	get func(ctx context.Context) (*catalog.Catalog, error)
	log *slog.Logger

	mu  sync.Mutex
	cat *catalog.Catalog // the catalog api serves
	api *API
}

// NewOnDemand serves the API over the catalog get returns (for example
// catalog.Lazy.Get); log (nil: discard) gets query failures.
func NewOnDemand(get func(ctx context.Context) (*catalog.Catalog, error), log *slog.Logger) *OnDemand {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &OnDemand{get: get, log: log}
}

func (o *OnDemand) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cat, err := o.get(r.Context())
	if err != nil {
		o.log.Warn("events API: catalog unavailable", "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "error", "error": "catalog unavailable, try again shortly", "timestamp": time.Now().UTC().Format(time.RFC3339),
		})
		return
	}
	o.mu.Lock()
	if o.cat != cat {
		o.cat, o.api = cat, New(cat, o.log)
	}
	api := o.api
	o.mu.Unlock()
	api.ServeHTTP(w, r)
}
