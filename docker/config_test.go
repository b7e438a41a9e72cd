package docker

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/silt-etl/silt/internal/config"
	reportsql "github.com/silt-etl/silt/sql"
)

// TestStackConfig loads docker/silt.yaml the way `silt run --config` does
// in the container, with the environment compose gives the silt service,
// and checks it against the compose file it runs in.
func TestStackConfig(t *testing.T) {
	root := repoRoot(t)
	p, stderr, err := composeConfig(t, filepath.Join(root, "docker", ".env.example"))
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, stderr)
	}
	silt := p.Services["silt"]

	// The config file silt reads is the one compose mounts.
	var cfgPath string
	for _, v := range silt.Volumes {
		if v.Target == "/etc/silt/silt.yaml" {
			cfgPath = v.Source
		}
	}
	if want := strings.Join(silt.Command, " "); cfgPath == "" || !strings.Contains(want, "--config /etc/silt/silt.yaml") {
		t.Fatalf("silt service: command %q and mounts do not give silt.yaml at /etc/silt/silt.yaml", want)
	}

	// Nothing from the developer's shell may make this pass or fail.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SILT_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	for k, v := range silt.Environment {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("silt rejects the stack config: %v", err)
	}

	if cfg.Lake.S3.AccessKey != silt.Environment["SILT_S3_ACCESS_KEY"] || cfg.Lake.S3.AccessKey == "" {
		t.Errorf("S3 access key %q does not come from compose's SILT_S3_ACCESS_KEY", cfg.Lake.S3.AccessKey)
	}
	// Every host silt talks to is a compose service on the port it serves.
	hostPort := func(what, addr string, wantHost string, wantPort int) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil || h != wantHost || port != strconv.Itoa(wantPort) {
			t.Errorf("%s = %q, want %s:%d", what, addr, wantHost, wantPort)
		}
		if _, ok := p.Services[wantHost]; !ok {
			t.Errorf("%s: no compose service %s", what, wantHost)
		}
	}
	if len(cfg.Kafka.Brokers) != 1 {
		t.Fatalf("kafka.brokers = %v, want the one compose broker", cfg.Kafka.Brokers)
	}
	hostPort("kafka.brokers", cfg.Kafka.Brokers[0], "kafka", 9092)
	hostPort("lake.s3.endpoint", cfg.Lake.S3.Endpoint, "minio", 9000)
	if cfg.Lake.Kind != "s3" || cfg.Catalog.Kind != "trino" {
		t.Errorf("lake %s, catalog %s: the stack is MinIO and Trino", cfg.Lake.Kind, cfg.Catalog.Kind)
	}
	u, err := url.Parse(cfg.Catalog.Trino.URL)
	if err != nil {
		t.Fatalf("catalog.trino.url: %v", err)
	}
	hostPort("catalog.trino.url", u.Host, "trino", 8080)

	// Trino's catalog is the file compose mounts under that name, and it
	// sees the lake in the bucket the bucket job creates.
	catalogFile := "/etc/trino/catalog/" + cfg.Catalog.Trino.Catalog + ".properties"
	mounted := false
	for _, v := range p.Services["trino"].Volumes {
		mounted = mounted || v.Target == catalogFile
	}
	if !mounted {
		t.Errorf("catalog.trino.catalog %q: trino mounts no %s", cfg.Catalog.Trino.Catalog, catalogFile)
	}
	if want := "s3://" + cfg.Lake.S3.Bucket + "/"; cfg.Catalog.Trino.Location != want {
		t.Errorf("catalog.trino.location %q, want %q (the lake bucket)", cfg.Catalog.Trino.Location, want)
	}
	if bucketJob := strings.Join(p.Services["create-bucket"].Command, " "); !strings.Contains(bucketJob, "local/"+cfg.Lake.S3.Bucket) {
		t.Errorf("create-bucket (%q) does not create bucket %s", bucketJob, cfg.Lake.S3.Bucket)
	}

	// Reports and spool live on the silt-data volume, so they survive a
	// restart and `docker compose cp` finds them.
	var dataDir string
	for _, v := range silt.Volumes {
		if v.Type == "volume" {
			dataDir = v.Target
		}
	}
	for key, dir := range map[string]string{"reports.out": cfg.Reports.Out, "ingest.spool_dir": cfg.Ingest.SpoolDir} {
		if dataDir == "" || !strings.HasPrefix(dir, dataDir+"/") {
			t.Errorf("%s = %q is not on silt's named volume (%q)", key, dir, dataDir)
		}
	}

	// The status page and the collector listen where compose publishes.
	published := func(service string) int {
		ports := p.Services[service].Ports
		if len(ports) != 1 {
			t.Fatalf("%s publishes %d ports, want 1", service, len(ports))
		}
		return ports[0].Target
	}
	hostPort("http.listen", strings.Replace(cfg.HTTP.Listen, ":", "silt:", 1), "silt", published("silt"))
	hostPort("collect.listen", strings.Replace(cfg.Collect.Listen, ":", "collector:", 1), "collector", published("collector"))
	if !strings.Contains(strings.Join(p.Services["gen"].Command, " "), "--http=http://collector:"+strconv.Itoa(published("collector"))) {
		t.Errorf("gen does not send to the collector: %q", p.Services["gen"].Command)
	}

	// Every scheduled report exists in the binary.
	reports, err := reportsql.Load(cfg.Reports.Dir)
	if err != nil {
		t.Fatalf("load reports: %v", err)
	}
	kinds := map[string]int{}
	for _, j := range cfg.Jobs {
		kinds[j.Kind]++
		if j.Kind == "report" && reports[j.Report] == nil {
			t.Errorf("job %s runs report %q, which silt does not have", j.Name, j.Report)
		}
	}
	if kinds["ingest"] != 1 || kinds["report"] == 0 {
		t.Errorf("jobs %v: the stack needs one ingest job and at least one report", kinds)
	}
}
