//go:build integration

package eventsaggregator_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// nightlyRetention is the example's retention schedule; the test replaces
// it to decide when retention runs. The TTL (retention: 720h) is the
// example's own.
const nightlyRetention = `schedule: "0 0 3 * * *"`

// withRetentionSchedule rewrites the copied silt.yaml's retention schedule.
func withRetentionSchedule(t *testing.T, dir, schedule string) {
	t.Helper()
	file := filepath.Join(dir, "silt.yaml")
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	yaml := string(raw)
	require.Contains(t, yaml, "retention: 720h", "the example's TTL")
	at := regexp.MustCompile(`(kind: retention, )schedule: "[^"]*"`)
	require.True(t, at.MatchString(yaml), "silt.yaml has the retention job")
	yaml = at.ReplaceAllString(yaml, `${1}schedule: "`+schedule+`"`)
	require.NoError(t, os.WriteFile(file, []byte(yaml), 0o644))
}

// lakeHours lists the lake's Parquet objects by partition directory
// (table/year=…/month=…/day=…/hour=…), failing on any other layout.
func lakeHours(t *testing.T, root string) map[string]int {
	t.Helper()
	part := regexp.MustCompile(`^([a-z_]+/year=\d{4}/month=\d\d/day=\d\d/hour=\d\d)/[^/]+\.parquet$`)
	out := map[string]int{}
	require.NoError(t, filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if strings.HasPrefix(rel, "_kafka/") || strings.HasPrefix(rel, "reports/") {
			return nil
		}
		m := part.FindStringSubmatch(filepath.ToSlash(rel))
		require.NotNil(t, m, "%s is not under year=/month=/day=/hour=", rel)
		out[m[1]]++
		return nil
	}))
	return out
}

// TestEventsAggregatorTTLPurgeE2E: SDK events 40 days old and from the
// last minutes go through the example as shipped (year=/month=/day=/hour=
// layout, DuckDB); the count and search APIs and the lake show all of
// them. Then retention runs with the example's TTL (720h): exactly the old
// hours are deleted, the APIs and the lake show exactly the recent events,
// and an event type that only had old events reads as empty, not as an
// error.
func TestEventsAggregatorTTLPurgeE2E(t *testing.T) {
	dir := copyExample(t)
	raw, err := os.ReadFile(filepath.Join(dir, "silt.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(raw), nightlyRetention)
	require.Contains(t, string(raw), "layout: year_month_day_hour")
	withRetentionSchedule(t, dir, "@every 8760h") // not during the first phase
	env := siltrun.Env("SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	status, base := d.StatusURL(t), d.CollectorURL(t)

	now := time.Now().UTC()
	oldStart := now.Add(-40 * 24 * time.Hour).Truncate(time.Hour).Add(5 * time.Minute) // 30 events in one hour
	recentStart := now.Truncate(time.Minute).Add(-10 * time.Minute)
	gen := func(seed, n int, start time.Time, step time.Duration) []sdkEvent {
		cmd := exec.Command(stacktest.SiltBin(t), "gen", "--config", "silt.yaml", "--template", "events.json", "--http", base,
			"--seed", strconv.Itoa(seed), "--count", strconv.Itoa(n), "--start", start.Format(time.RFC3339), "--step", step.String(), "--rate", "0")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return expectedEvents(t, uint64(seed), n, start, step)
	}
	old := gen(5, 30, oldStart, time.Minute)
	recent := gen(6, 40, recentStart, 10*time.Second)
	// An event type the SDK stopped sending 40 days ago: all of it expires.
	install := fmt.Sprintf(`{"event_type":"app_install","ts":%d,"params":{"os_type":"ios"}}`, oldStart.Unix())
	code, body := siltrun.Do(t, "POST", base+"/events", "application/json", install)
	require.Equal(t, 202, code, body)
	old = append(old, sdkEvent{Type: "app_install", TS: oldStart.Unix()})

	hourOf := func(e sdkEvent) string {
		return strings.TrimSuffix(lake.YearMonthDayHour.PartitionOf(e.Type, time.Unix(e.TS, 0)).Prefix(), "/")
	}
	perType := func(evs ...[]sdkEvent) map[string]int64 {
		out := map[string]int64{}
		for _, es := range evs {
			for _, e := range es {
				out[e.Type]++
			}
		}
		return out
	}
	hours := func(evs []sdkEvent) map[string]bool {
		out := map[string]bool{}
		for _, e := range evs {
			out[hourOf(e)] = true
		}
		return out
	}
	count := func(q url.Values) int64 {
		var n int64
		apiGet(t, status+"api/events/count?"+q.Encode(), &n)
		return n
	}
	all := int64(len(old) + len(recent))
	oldRange := url.Values{"start_time": {oldStart.Add(-time.Hour).Format(time.RFC3339)}, "end_time": {oldStart.Add(2 * time.Hour).Format(time.RFC3339)}}
	d.WaitFor(t, "every event in the count API", 3*time.Minute, func() bool { return count(url.Values{}) == all })
	root := filepath.Join(dir, "silt-data")

	// Before: the APIs and the lake hold every event, old and recent.
	require.EqualValues(t, len(old), count(oldRange), "the old events by time range")
	var page eventsapi.SearchResult
	apiGet(t, status+"api/events/search?"+url.Values{"limit": {"5"}, "start_time": oldRange["start_time"], "end_time": oldRange["end_time"]}.Encode(), &page)
	require.EqualValues(t, len(old), page.Total)
	require.Len(t, page.Events, 5)
	for typ, n := range perType(old, recent) {
		require.Equal(t, n, count(url.Values{"event_type": {typ}}), typ)
	}
	before := lakeHours(t, root)
	wantHours := hours(append(append([]sdkEvent{}, old...), recent...))
	require.Len(t, before, len(wantHours), "partitions before: %v", before)
	for h := range wantHours {
		require.Positive(t, before[h], "partition %s", h)
	}
	rep, err := lakecheck.Check(t.Context(), root)
	require.NoError(t, err)
	require.Equal(t, perType(old, recent), rep.Rows)
	oldObjects := 0
	for h := range hours(old) {
		oldObjects += before[h]
	}
	d.Stop(t)

	// Retention with the example's TTL, every few seconds.
	withRetentionSchedule(t, dir, "@every 3s")
	d = siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	status = d.StatusURL(t)
	purged := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d retention +ok +\S+ objects=(\d+) partitions=(\d+)$`)
	d.WaitFor(t, "retention to purge the old hours", 2*time.Minute, func() bool { return purged.MatchString(d.Output()) })
	m := purged.FindStringSubmatch(d.Output())
	require.Equal(t, []string{strconv.Itoa(oldObjects), strconv.Itoa(len(hours(old)))}, m[1:], "objects and partitions retention deleted")

	// After: exactly the recent events, in the APIs and in the lake.
	require.EqualValues(t, len(recent), count(url.Values{}))
	require.Zero(t, count(oldRange), "the old events by time range")
	apiGet(t, status+"api/events/search?"+url.Values{"limit": {"5"}}.Encode(), &page)
	require.EqualValues(t, len(recent), page.Total)
	for i, e := range page.Events {
		require.False(t, e.EventTime.Before(recentStart), "event %d at %s is older than the recent ones", i, e.EventTime)
	}
	for typ, n := range perType(old, recent) {
		require.Equal(t, perType(recent)[typ], count(url.Values{"event_type": {typ}}), "%s (before: %d)", typ, n)
	}
	require.Zero(t, count(url.Values{"event_type": {"app_install"}}), "a type whose every event expired reads empty")
	after := lakeHours(t, root)
	require.Len(t, after, len(hours(recent)), "partitions after: %v", after)
	for h := range hours(recent) {
		require.Equal(t, before[h], after[h], "recent partition %s is untouched", h)
	}
	rep, err = lakecheck.Check(t.Context(), root)
	require.NoError(t, err)
	require.Equal(t, perType(recent), rep.Rows)
	layout, err := os.ReadFile(filepath.Join(root, "_silt", "layout.json"))
	require.NoError(t, err)
	var rec struct{ Layout string }
	require.NoError(t, json.Unmarshal(layout, &rec))
	require.Equal(t, "year_month_day_hour", rec.Layout)

	// silt tables shows the partitions in the layout (reading the lake
	// itself while silt run holds the DuckDB file).
	cmd := exec.Command(stacktest.SiltBin(t), "tables", "--config", "silt.yaml", "--partitions")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for h := range hours(recent) {
		require.Contains(t, string(out), "  "+h[strings.Index(h, "/")+1:]+"\n", "silt tables lists %s", h)
	}
	require.NotContains(t, string(out), "dt=")

	// Pointed at this lake with the other layout, silt stops at start and
	// says which to set.
	cmd = exec.Command(stacktest.SiltBin(t), "tables", "--config", "silt.yaml")
	cmd.Dir, cmd.Env = dir, append(env, "SILT_LAKE_LAYOUT=dt_hour")
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "lake.layout is dt_hour but the lake records _silt/layout.json = year_month_day_hour: set lake.layout: year_month_day_hour")
	d.Stop(t)
	t.Logf("purged %s objects in %s partitions; %d recent events kept of %d", m[1], m[2], len(recent), all)
}
