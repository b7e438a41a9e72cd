package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chromiumFlags keep a headless Chromium from touching the network or a
// profile: the test only talks to 127.0.0.1.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// chromium finds the browser; without one the test skips, except on CI
// where a missing browser is a broken setup (.ci/install-deps installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found on CI: run .ci/install-deps")
	}
	t.Skip("chromium not installed (apt-get install -y chromium); required when CI=true")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append(append(append([]string{}, chromiumFlags...), "--user-data-dir="+t.TempDir()), args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium %v: %s", args, stderr.String())
	return out
}

// TestStatusPageInHeadlessBrowser loads the status page in a real browser
// and checks what it rendered: the jobs, a bar chart with bars and the
// time series charts with the values sampled.
func TestStatusPageInHeadlessBrowser(t *testing.T) {
	bin := chromium(t)
	status := chartFixture(t)
	srv := httptest.NewServer(status)
	defer srv.Close()

	dom := string(runChromium(t, bin, "--dump-dom", srv.URL+"/"))
	for _, job := range []string{"ingest", "host_breakdown", "register"} {
		require.Contains(t, dom, `data-job="`+job+`"`)
	}
	require.Contains(t, dom, "<svg")
	svg := regexp.MustCompile(`(?s)<svg[^>]*class="chart".*?</svg>`).FindString(dom)
	require.NotEmpty(t, svg, "no chart in the rendered DOM")
	bars := regexp.MustCompile(`<rect class="bar"[^>]*width="(\d+)"`).FindAllStringSubmatch(svg, -1)
	require.Len(t, bars, 4)
	for _, b := range bars {
		require.NotEqual(t, "0", b[1], "an empty bar")
	}
	require.Contains(t, dom, "game-1.example.com")

	// The time series as the browser parsed them carry the sampled values.
	for _, c := range status.opts.Charts.Charts() {
		svg := regexp.MustCompile(`(?s)<svg class="timeseries" id="chart-` + c.ID + `".*?</svg>`).FindString(dom)
		require.NotEmpty(t, svg, "chart %s not in the rendered DOM", c.ID)
		drawn := svgSeries(t, svg)
		require.Len(t, drawn, len(c.Series), c.ID)
		for _, s := range c.Series {
			require.Equal(t, s.Points, drawn[s.Name], "%s %s", c.ID, s.Name)
		}
	}

	shot := filepath.Join(artifactDir(t), "status-page.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1366,1100", srv.URL+"/")
	png, err := os.ReadFile(shot)
	require.NoError(t, err)
	require.Greater(t, len(png), 1000)
	require.Equal(t, "\x89PNG", string(png[:4]))
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

// artifactDir is test-artifacts/ at the repository root (gitignored).
func artifactDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "test-artifacts")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}
