package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/scheduler"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

func TestStatusPageShowsJobsTablesLagAndReports(t *testing.T) {
	code, body := get(t, fixture(t), "/")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`data-job="ingest"`, `data-job="host_breakdown"`, `data-job="register"`,
		"<code>@every 5s</code>", "<code>@every 30s, then after ingest</code>", "<code>after ingest</code>",
		"2024-03-01 12:00:05 (in 5s)", "running", "waiting for ingest",
		`<td class="ok">ok`, "files=4 records=3000", "1.5s", "kafka: broker unreachable", `<td class="skipped">skipped`,
		"<td>purchase_sword</td>", "dt=2024-03-01/hour=11",
		"<td>events</td>", `<td class="num">42</td>`,
		`id="report-host_breakdown"`, "4 rows", `aria-label="events by host"`,
		"&lt;script&gt;alert(1)&lt;/script&gt;", // report values are escaped
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "<script>")
	require.NotContains(t, body, "never_ran") // a report without latest.csv is not shown
	require.Equal(t, 4, strings.Count(body, `<rect class="bar"`))
	// Bars scale to the largest value: 1200 is the widest, 300 a quarter of it.
	require.Contains(t, body, `width="380"`)
	require.Contains(t, body, `width="95"`)
}

func TestStatusPageWithNothingYet(t *testing.T) {
	code, body := get(t, New(Options{ReportsDir: t.TempDir() + "/missing"}), "/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "no jobs scheduled")
	require.Contains(t, body, "no reports written yet")
	require.NotContains(t, body, "Consumer lag")
}

func TestBuildChartPicksFirstNumericByFirstText(t *testing.T) {
	ch := buildChart([]string{"n", "host", "events"}, [][]string{{"x1", "a", "10"}, {"x2", "b", "5"}})
	require.NotNil(t, ch)
	require.Equal(t, "events", ch.Measure)
	require.Equal(t, "n", ch.Label) // "n" holds text, so it is the first label column
	require.Equal(t, []string{"x1", "x2"}, []string{ch.Bars[0].Label, ch.Bars[1].Label})
	require.Equal(t, ch.Bars[0].W, 2*ch.Bars[1].W)

	require.Nil(t, buildChart([]string{"host"}, [][]string{{"a"}}), "no numeric column")
	ch = buildChart([]string{"hour", "events"}, [][]string{{"1", "0"}, {"2", "0"}})
	require.Equal(t, "hour", ch.Measure) // all numeric: the first column is the measure, bars numbered
	require.Equal(t, "1", ch.Bars[0].Label)

	ch = buildChart([]string{"host", "type", "events"}, [][]string{{"a", "x", "1"}, {"a", "y", "2"}, {"b", "x", "6"}})
	require.Len(t, ch.Bars, 2, "one bar per host")
	require.Equal(t, []string{"a", "3"}, []string{ch.Bars[0].Label, ch.Bars[0].Value})
	require.Equal(t, []string{"b", "6"}, []string{ch.Bars[1].Label, ch.Bars[1].Value})
	require.Equal(t, 2*ch.Bars[0].W, ch.Bars[1].W)
}

func TestHealthReadyAndMountedHandlers(t *testing.T) {
	ready := error(nil)
	s := New(Options{Ready: func() error { return ready }})
	s.Handle("GET /api/events/count", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"count":3}`) }))
	code, body := get(t, s, "/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	code, _ = get(t, s, "/readyz")
	require.Equal(t, http.StatusOK, code)
	ready = io.ErrClosedPipe
	code, body = get(t, s, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready")
	code, body = get(t, s, "/api/events/count")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, `{"count":3}`, body)
	code, _ = get(t, s, "/nope")
	require.Equal(t, http.StatusNotFound, code)
}

// Cluster-wide jobs say which process holds their lease; per-process
// jobs run on every process; each run says which process ran it.
func TestStatusPageShowsWhereJobsRun(t *testing.T) {
	slot := pageTime.Add(-20 * time.Second)
	jobs := staticJobs{
		{Name: "ingest", Schedule: "@every 5s", Last: []scheduler.Run{
			{Scheduled: slot, Start: slot, End: slot.Add(time.Second), Status: scheduler.StatusOK, Process: "silt-0"},
		}},
		{Name: "host_breakdown", Schedule: "@every 1m", ClusterWide: true, Elsewhere: 3,
			Lease: scheduler.Lease{Holder: "silt-2", Slot: slot, Acquired: slot, Expires: pageTime.Add(40 * time.Second)}},
		{Name: "compact", Schedule: "@every 1h", ClusterWide: true, LeaseHere: true,
			Lease: scheduler.Lease{Holder: "silt-0", Slot: slot, Expires: pageTime.Add(40 * time.Second), Done: true}},
		{Name: "retention", Schedule: "@every 1h", ClusterWide: true},
	}
	s := New(Options{Jobs: jobs, ReportsDir: t.TempDir(), Now: func() time.Time { return pageTime }})
	code, body := get(t, s, "/")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`<td class="lease">every process</td>`,
		"<td>silt-0</td>", // the ingest run's process
		"running on silt-2",
		`<td class="lease">lease held by silt-2 until 12:00:40 UTC (slot 11:59:40); 3 slots of this process ran elsewhere</td>`,
		`<td class="lease">last slot (11:59:40) ran on silt-0 (this process)</td>`,
		`<td class="lease">one process per slot (no slot yet)</td>`,
	} {
		require.Contains(t, body, want)
	}
	// An expired lease is not "held": the job shows idle here.
	jobs[1].Lease.Expires = pageTime
	_, body = get(t, s, "/")
	require.NotContains(t, body, "running on silt-2")
	require.Contains(t, body, "last slot (11:59:40) ran on silt-2")
}
