//go:build integration

package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestGenCollectIngestCountE2E runs the front door as a user would: silt
// collect, silt gen through it, silt ingest into the real lake and Trino,
// and then the collector's count API must give exactly what gen says the
// collector accepted, per event type and host.
func TestGenCollectIngestCountE2E(t *testing.T) {
	ep := stacktest.Get(t)
	bin := stacktest.SiltBin(t)
	topic := fmt.Sprintf("e2e_front_door_%d", time.Now().UnixNano()%1e9)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	_, err = kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, topic)
	cl.Close()
	require.NoError(t, err)

	cfgPath := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("log:\n  format: json\n"), 0o644))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := append(append(os.Environ(), ep.Env()...),
		"SILT_KAFKA_TOPICS="+topic, "SILT_COLLECT_TOPIC="+topic, "SILT_KAFKA_GROUP="+topic,
		"SILT_S3_PREFIX="+topic, "SILT_TRINO_SCHEMA="+topic, "SILT_KAFKA_SESSION_TIMEOUT=6s",
		// Trino must see the lake where the prefix puts it.
		"SILT_TRINO_LOCATION="+ep.TrinoSchemaLocation+topic+"/", "SILT_COLLECT_LISTEN="+addr)
	silt := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append(args, "--config", cfgPath)...)
		cmd.Env = env
		return cmd
	}

	var collectOut bytes.Buffer
	collector := silt("collect")
	collector.Stdout, collector.Stderr = &collectOut, &collectOut
	require.NoError(t, collector.Start())
	exited := make(chan error, 1)
	go func() { exited <- collector.Wait() }()
	defer func() {
		_ = collector.Process.Signal(os.Interrupt)
		if err := <-exited; err != nil {
			t.Errorf("silt collect did not drain cleanly: %v\n%s", err, collectOut.String())
		}
	}()
	base := "http://" + addr
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("silt collect exited: %v\n%s", err, collectOut.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	before := time.Now().Add(-time.Minute)
	var genOut, genErr bytes.Buffer
	g := silt("gen", "--http", base, "--count", "3000", "--rate", "0", "--seed", "11", "--batch", "50", "--json")
	g.Stdout, g.Stderr = &genOut, &genErr
	require.NoError(t, g.Run(), "silt gen: %s", genErr.String())
	var summary struct {
		Accepted int64 `json:"accepted"`
		Counts   []struct {
			EventType string `json:"event_type"`
			Host      string `json:"host"`
			Count     int64  `json:"count"`
		} `json:"counts"`
	}
	require.NoError(t, json.Unmarshal(genOut.Bytes(), &summary), genOut.String())
	require.Equal(t, int64(3000), summary.Accepted)
	require.Len(t, summary.Counts, 9)

	ing := silt("ingest")
	out, err := ing.CombinedOutput()
	require.NoError(t, err, "silt ingest: %s", out)

	count := func(q url.Values) int64 {
		resp, err := http.Get(base + "/api/events/count?" + q.Encode())
		require.NoError(t, err)
		defer resp.Body.Close()
		var r struct {
			Status string `json:"status"`
			Result int64  `json:"result"`
			Error  string `json:"error"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		require.Equal(t, "ok", r.Status, "%v: %s\n%s", q, r.Error, collectOut.String())
		return r.Result
	}
	window := url.Values{"start_time": {fmt.Sprint(before.Unix())}, "end_time": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}
	var total int64
	for _, c := range summary.Counts {
		q := url.Values{"event_type": {c.EventType}, "host": {c.Host}}
		for k, v := range window {
			q[k] = v
		}
		require.Equal(t, c.Count, count(q), "%s on %s", c.EventType, c.Host)
		total += c.Count
	}
	require.Equal(t, total, count(url.Values{}))
	require.Equal(t, int64(0), count(url.Values{"end_time": {fmt.Sprint(before.Unix())}}))

	// The search API's cursor walks every one of them exactly once: as
	// many events as the count API gives, each (topic, partition, offset)
	// once, in the API's order, strictly increasing across pages (ties in
	// event_time are common: gen stamps thousands of events a second).
	type hit struct {
		EventType      string          `json:"event_type"`
		EventTime      time.Time       `json:"event_time"`
		KafkaTopic     string          `json:"kafka_topic"`
		KafkaPartition int64           `json:"kafka_partition"`
		KafkaOffset    int64           `json:"kafka_offset"`
		Event          json.RawMessage `json:"event"`
	}
	type pos struct {
		topic             string
		partition, offset int64
	}
	walk := func(q url.Values, limit int) (hits []hit, pages int) {
		t.Helper()
		seen := map[pos]bool{}
		cursor := ""
		for {
			q := maps.Clone(q)
			q.Set("limit", fmt.Sprint(limit))
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			resp, err := http.Get(base + "/api/events/search?" + q.Encode())
			require.NoError(t, err)
			var page struct {
				Status string `json:"status"`
				Error  string `json:"error"`
				Result struct {
					Events     []hit  `json:"events"`
					NextCursor string `json:"next_cursor"`
				} `json:"result"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, "ok", page.Status, "%v page %d: %s", q, pages, page.Error)
			pages++
			if page.Result.NextCursor != "" {
				require.Len(t, page.Result.Events, limit, "a page with a next cursor is full")
			} else {
				require.LessOrEqual(t, len(page.Result.Events), limit)
			}
			for _, e := range page.Result.Events {
				require.Equal(t, topic, e.KafkaTopic)
				p := pos{e.KafkaTopic, e.KafkaPartition, e.KafkaOffset}
				require.False(t, seen[p], "event at partition %d offset %d walked twice (page %d)", p.partition, p.offset, pages)
				seen[p] = true
				if n := len(hits); n > 0 {
					prev := hits[n-1]
					require.True(t, prev.EventTime.Before(e.EventTime) || prev.EventTime.Equal(e.EventTime) &&
						(prev.KafkaPartition < e.KafkaPartition || prev.KafkaPartition == e.KafkaPartition && prev.KafkaOffset < e.KafkaOffset),
						"out of order on page %d: %+v after %+v", pages, e, prev)
				}
				var ev map[string]any
				require.NoError(t, json.Unmarshal(e.Event, &ev), "%s", e.Event)
				require.Equal(t, e.EventType, ev["event_type"], "%s", e.Event)
				require.Contains(t, ev, "received_at")
				hits = append(hits, e)
			}
			if page.Result.NextCursor == "" {
				return hits, pages
			}
			require.Less(t, pages, 1000, "the cursor never ends")
			cursor = page.Result.NextCursor
		}
	}

	all, allPages := walk(window, 250)
	require.Equal(t, total, int64(len(all)), "events walked over %d pages vs the count API", allPages)
	require.Greater(t, allPages, 10)
	walked := map[string]int64{}
	for _, e := range all {
		walked[e.EventType]++
	}
	for typ, n := range walked {
		require.Equal(t, count(url.Values{"event_type": {typ}}), n, "%s walked vs counted", typ)
	}

	// One event type on one host, in pages that do not divide it evenly.
	c := summary.Counts[0]
	q := url.Values{"event_type": {c.EventType}, "host": {c.Host}}
	for k, v := range window {
		q[k] = v
	}
	some, pages := walk(q, 97)
	require.Equal(t, c.Count, int64(len(some)), "%s on %s walked over %d pages", c.EventType, c.Host, pages)
	require.Equal(t, count(q), int64(len(some)))
	for _, e := range some {
		require.Equal(t, c.EventType, e.EventType)
		require.Contains(t, string(e.Event), fmt.Sprintf(`"Host":%q`, c.Host))
	}
	t.Logf("search walked %d events in %d pages of 250 and %d of %s on %s in %d pages of 97; the count API agrees",
		len(all), allPages, len(some), c.EventType, c.Host, pages)
}
