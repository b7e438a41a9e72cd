package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/lake"
)

// A catalog that is down when silt run starts delays registration, the
// report jobs and the events API; once it answers, all three work without
// a restart.
func TestCatalogDownAtStartOnlyDelaysReportsAndAPI(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Lake.Root = t.TempDir()
	cfg.Catalog.DuckDB.Path = filepath.Join(t.TempDir(), "silt.duckdb")
	cfg.Reports.Out = t.TempDir()
	store, err := lake.NewLocal(cfg.Lake.Root)
	require.NoError(t, err)

	down, opens := true, 0
	conn := catalog.NewLazy(func(ctx context.Context) (*catalog.Catalog, error) {
		opens++
		if down {
			return nil, errors.New("dial tcp 127.0.0.1:8080: connection refused")
		}
		return catalog.Open(ctx, catalogOptions(cfg, nil), store)
	}, nil)
	defer conn.Close()
	api := eventsapi.NewOnDemand(conn.Get, nil)
	deps := &jobDeps{cfg: cfg, store: store, catalog: conn, log: slog.Default()}

	job, err := deps.buildJob(config.Job{Name: "hosts", Kind: "report", Report: "host_breakdown"})
	require.NoError(t, err, "a report job is scheduled even while the catalog is down")
	_, err = deps.buildJob(config.Job{Name: "bad", Kind: "report", Report: "host_breakdown", Params: map[string]string{"start": "last tuesday"}})
	require.ErrorContains(t, err, "job bad", "a bad parameter still fails at start-up")
	_, err = deps.buildJob(config.Job{Name: "typo", Kind: "report", Report: "host_brekdown"})
	require.ErrorContains(t, err, `no report "host_brekdown"`)

	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	_, err = job.Run(ctx, at)
	require.ErrorContains(t, err, "connection refused")
	require.ErrorContains(t, conn.Register(ctx, nil), "connection refused", "ingest sees a failed registration")

	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/events/count?start_time=0&end_time=2000000000", nil))
		return rec
	}
	rec := get()
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "5", rec.Header().Get("Retry-After"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "error", body["status"])
	require.Contains(t, body["error"], "catalog unavailable")
	require.Equal(t, 3, opens, "every use retries the open")

	down = false
	_, err = job.Run(ctx, at)
	require.NoError(t, err)
	csv, err := os.ReadFile(filepath.Join(cfg.Reports.Out, "hosts", "latest.csv"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(csv), "host,event_type,"), "%q", csv)
	rec = get()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "ok", body["status"])
	require.NoError(t, conn.Register(ctx, nil))
	require.Equal(t, 4, opens, "an open catalog is kept")
}
