package docker

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// promtoolVersion is the Prometheus release whose promtool checks the
// rules; .ci/install-deps installs it, and promtool() does when missing.
const promtoolVersion = "v0.316.0"

// promtool returns ~/.cache/silt/bin/promtool, building it from the Go
// module proxy on first use.
func promtool(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("find cache dir: %v", err)
	}
	dir := filepath.Join(cache, "silt", "bin")
	bin := filepath.Join(dir, "promtool")
	// go install stamps no version into the binary's --version; the
	// module version it was built from is in its build info.
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil && regexp.MustCompile(`prometheus/prometheus\s+`+regexp.QuoteMeta(promtoolVersion)+`\s`).Match(out) {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/prometheus/prometheus/cmd/promtool@"+promtoolVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install promtool %s (go install into %s): %v\n%s", promtoolVersion, dir, err, out)
	}
	return bin
}

func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = filepath.Join(repoRoot(t), "docker", "prometheus")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The alert rules are valid (promtool check rules), each fires on
// synthetic series and stays quiet on healthy ones (promtool test rules,
// alerts_test.yml), and Prometheus accepts its config with them.
func TestAlertRulesPassPromtool(t *testing.T) {
	out := runPromtool(t, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS: 7 rules found") {
		t.Errorf("promtool check rules: want 7 rules:\n%s", out)
	}
	out = runPromtool(t, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
	runPromtool(t, "check", "config", "prometheus.yml")

	// Every alert has a unit test that expects it to fire.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fired := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	for _, r := range alertRules(t) {
		if !fired[r.Alert] {
			t.Errorf("alert %s has no test in alerts_test.yml where it fires", r.Alert)
		}
	}
}

// A rule that names a metric silt does not serve is caught by the metric
// check, not only by review: promtool accepts any name.
func TestPromtoolCatchesABrokenRule(t *testing.T) {
	dir := t.TempDir()
	bad := "groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: rate(silt_ingest_events_total[5m] > 0\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool(t), "check", "rules", filepath.Join(dir, "bad.yml"))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted an unparsable expression:\n%s", out)
	}
}

type alertRule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var doc struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &doc)
	var out []alertRule
	for _, g := range doc.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatal("no rules in alerts.yml")
	}
	return out
}

func readYAML(t *testing.T, rel string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", "grafana", "dashboards", "silt.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("silt.json: %v", err)
	}
	return d
}

// The dashboard is one Grafana provisioning loads: every panel queries the
// provisioned Prometheus data source by its uid, each query parses as
// PromQL (promtool checks each as a recording rule), ids are unique.
func TestGrafanaDashboardQueriesTheProvisionedPrometheus(t *testing.T) {
	d := readDashboard(t)
	if d.UID != "silt" || len(d.Panels) < 10 {
		t.Fatalf("dashboard uid %q with %d panels", d.UID, len(d.Panels))
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("provisioned data sources: %+v", ds.Datasources)
	}
	ids := map[int]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != ds.Datasources[0].UID || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: data source %+v, want the provisioned uid %q", p.Title, p.Datasource, ds.Datasources[0].UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			// Grafana's $__rate_interval is no PromQL: as Grafana would, give it a value.
			expr := strings.ReplaceAll(q.Expr, "$__rate_interval", "1m")
			enc, _ := json.Marshal(expr)
			rules.WriteString("      - record: dashboard:panel" + q.RefID + "\n        expr: " + string(enc) + "\n")
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("a dashboard query is not PromQL: %v\n%s", err, out)
	}
}

// metricNameRE finds the metric names a query uses: silt's series, and up.
var metricNameRE = regexp.MustCompile(`\b(silt_[a-z0-9_]+|up)\b`)

// usedMetrics are the metric names the alert rules and the dashboard
// query, each with where it is used.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, r := range alertRules(t) {
		for _, m := range metricNameRE.FindAllString(r.Expr, -1) {
			used[m] = append(used[m], "alert "+r.Alert)
		}
	}
	for _, p := range readDashboard(t).Panels {
		for _, q := range p.Targets {
			for _, m := range metricNameRE.FindAllString(q.Expr, -1) {
				used[m] = append(used[m], "panel "+p.Title)
			}
		}
	}
	return used
}

// missingMetrics are the used names that exposed (metric family name ->
// type) does not serve. A histogram serves <name>_bucket, _sum and _count;
// up is Prometheus's own.
func missingMetrics(used map[string][]string, exposed map[string]string) []string {
	var missing []string
	for name, where := range used {
		if name == "up" {
			continue
		}
		if _, ok := exposed[name]; ok {
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && exposed[base] == "HISTOGRAM" {
				found = true
			}
		}
		if !found {
			missing = append(missing, name+" (used by "+strings.Join(where, ", ")+")")
		}
	}
	sort.Strings(missing)
	return missing
}

// The name check itself: a histogram's series are found through its
// family, a typo or a counter's _bucket is not.
func TestMissingMetricsSeesTyposAndHistogramSeries(t *testing.T) {
	exposed := map[string]string{"silt_ingest_events_total": "COUNTER", "silt_ingest_batch_duration_seconds": "HISTOGRAM"}
	used := map[string][]string{
		"silt_ingest_events_total": {"a"}, "silt_ingest_batch_duration_seconds_bucket": {"b"}, "up": {"c"},
		"silt_ingest_event_total": {"typo"}, "silt_ingest_events_total_bucket": {"not a histogram"},
	}
	got := missingMetrics(used, exposed)
	want := []string{"silt_ingest_event_total (used by typo)", "silt_ingest_events_total_bucket (used by not a histogram)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("missing = %v, want %v", got, want)
	}
}
