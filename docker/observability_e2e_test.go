//go:build integration

package docker

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/silt-etl/silt/testbed/stacktest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Every metric the alert rules and the Grafana dashboard use is one a real
// `silt run` serves on /metrics: the embedded demo (broker, generator,
// collector, reports) with a dead letter posted through the collector, so
// that the series with labels (per reason, per table) exist too.
func TestDashboardAndAlertMetricsAreServedBySiltRunE2E(t *testing.T) {
	dir := t.TempDir()
	httpAddr, collectAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(stacktest.SiltBin(t), "run")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SILT_CONFIG=", "SILT_KAFKA_BROKERS=", "SILT_LAKE_ROOT="+dir+"/lake", "SILT_REPORTS_OUT="+dir+"/reports",
		"SILT_HTTP_LISTEN="+httpAddr, "SILT_COLLECT_LISTEN="+collectAddr)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	exposed := map[string]string{}
	posted := false
	// The bound keeps a broken build from hanging; the test measures nothing.
	deadline := time.Now().Add(3 * time.Minute)
	var missing []string
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		if !posted {
			resp, err := http.Post("http://"+collectAddr+"/events", "application/json", strings.NewReader(`{"event_type":"a;DROP TABLE t"}`))
			if err != nil {
				continue
			}
			resp.Body.Close()
			posted = resp.StatusCode/100 == 2
		}
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics is not Prometheus text: %v", err)
		}
		for name, f := range families {
			if len(f.GetMetric()) > 0 {
				exposed[name] = f.GetType().String()
			}
		}
		if missing = missingMetrics(usedMetrics(t), exposed); len(missing) == 0 {
			break
		}
	}
	if len(missing) > 0 {
		t.Fatalf("metrics the rules or the dashboard use that silt run does not serve:\n  %s\nsilt run's output:\n%s", strings.Join(missing, "\n  "), out.String())
	}
	if !posted {
		t.Fatal("the collector never accepted the dead letter")
	}
	t.Logf("all %d metric names the rules and the dashboard use are served (%d families)", len(usedMetrics(t)), len(exposed))
}
