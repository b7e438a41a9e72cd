package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type staticFreshness []TableFreshness

func (s staticFreshness) Freshness(context.Context) ([]TableFreshness, error) { return s, nil }

func TestStatusPageShowsFreshness(t *testing.T) {
	s := New(Options{ReportsDir: t.TempDir(), Now: func() time.Time { return pageTime },
		Freshness: staticFreshness{{
			Table: "purchase_sword", NewestEvent: pageTime.Add(-90 * time.Second), Age: 90 * time.Second,
			CommittedAt: pageTime.Add(-5 * time.Second), LatencyMin: 1200 * time.Millisecond, LatencyMax: 15 * time.Second, LatencyMean: 7 * time.Second,
		}}})
	code, body := get(t, s, "/")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`<tr class="fresh" data-table="purchase_sword"><td>purchase_sword</td><td>2024-03-01 11:58:30</td><td class="num age">1m30s</td><td>2024-03-01 11:59:55</td><td class="num">1.2s – 15s</td><td class="num">7s</td></tr>`,
	} {
		require.Contains(t, body, want)
	}

	_, body = get(t, New(Options{ReportsDir: t.TempDir(), Freshness: staticFreshness{}}), "/")
	require.Contains(t, body, "no batch committed by this process yet")
	_, body = get(t, New(Options{ReportsDir: t.TempDir()}), "/")
	require.NotContains(t, body, "Freshness")
}
