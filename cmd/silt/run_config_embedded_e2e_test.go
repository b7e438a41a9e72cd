//go:build integration

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/siltrun"
)

// TestRunE2EEmbeddedBrokerFromConfigFile is `kafka.brokers: [embedded]` in
// a config file: silt run starts the in-process broker with its log in the
// lake (<lake.root>/_kafka), serves the collector with --collect, and
// generates nothing, neither by default nor with gen.enabled and
// gen.rate 0: the lake holds exactly the events posted.
func TestRunE2EEmbeddedBrokerFromConfigFile(t *testing.T) {
	for name, genKeys := range map[string]string{
		"generator off by default": "",
		"gen.rate 0":               "gen: {enabled: true, rate: 0}\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := `kafka: {brokers: [embedded]}
lake: {kind: local, root: ./lake}
http: {listen: "127.0.0.1:0"}
collect: {listen: "127.0.0.1:0"}
jobs:
  - {name: ingest, kind: ingest, schedule: "@every 1s"}
` + genKeys
			require.NoError(t, os.WriteFile(filepath.Join(dir, "silt.yaml"), []byte(cfg), 0o644))
			d := siltrun.Start(t, dir, siltrun.Env(), "--config", "silt.yaml", "--collect")
			base := d.CollectorURL(t)
			want := map[string]int64{"join_guild": 3, "level_up": 2}
			var body strings.Builder
			for typ, n := range want {
				for i := int64(0); i < n; i++ {
					fmt.Fprintf(&body, `{"event_type":%q,"player":"p%d"}`+"\n", typ, i)
				}
			}
			code, resp := siltrun.Do(t, http.MethodPost, base+"/events", "application/x-ndjson", body.String())
			require.Equal(t, http.StatusAccepted, code, resp)
			require.JSONEq(t, `{"accepted":5}`, resp)

			root := filepath.Join(dir, "lake")
			d.WaitFor(t, "5 rows in the lake", 2*time.Minute, func() bool {
				r, err := lakecheck.Check(context.Background(), root)
				return err == nil && r.Total >= 5
			})
			// More ingest runs: a generator, had one started, would add rows.
			d.WaitIngestRuns(t, 3)
			d.Stop(t)

			rep, err := lakecheck.Check(context.Background(), root)
			require.NoError(t, err)
			require.Equal(t, want, rep.Rows, "exactly the posted events, nothing synthetic")
			require.Zero(t, rep.Duplicates)
			require.Contains(t, d.Output(), "EMBEDDED demo Kafka broker")
			require.NotContains(t, d.Output(), "synthetic game events", "no generator")
			st, err := os.Stat(filepath.Join(root, "_kafka"))
			require.NoError(t, err, "the embedded broker keeps its log in the lake")
			require.True(t, st.IsDir())
		})
	}
}
