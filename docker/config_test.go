package docker

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
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

	// Reports live on a named volume, so they survive a restart and every
	// replica's status page and `docker compose exec silt cat` find them.
	// The spool is each replica's own (docker/scale_test.go).
	onVolume := false
	for _, v := range silt.Volumes {
		onVolume = onVolume || v.Type == "volume" && v.Source != "" && v.Target == cfg.Reports.Out
	}
	if !onVolume {
		t.Errorf("reports.out = %q is not a named volume of the silt service", cfg.Reports.Out)
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

// TestSecureStackConfig loads docker/silt.yaml the way silt, the collector
// and gen do in the secured variant (compose.secure.yml over compose.yml),
// with each service's merged environment. Every path that environment names
// must be in the container: a Docker secret of the service, whose file
// holds the value of its variable from .env.example, or a file tls-init
// puts on the tls volume, here the CA `silt stack certs` writes. The test
// lays out those files in a temp dir, points the variables there, and
// silt's own config validation must accept the result.
func TestSecureStackConfig(t *testing.T) {
	root := repoRoot(t)
	p := secureConfig(t)
	layout := tlsInitLayout(t, p)
	values := envFileValues(t, filepath.Join(root, "docker", ".env.example"))
	pki := generatedCerts(t)
	certs := map[string]string{}
	for _, f := range certFilesOf(pki) {
		certs[filepath.Base(f)] = f
	}

	for _, name := range siltServices {
		t.Run(name, func(t *testing.T) {
			s := p.Services[name]
			cfgPath := mountedConfig(t, s, name)
			clearSiltEnv(t)
			dir := t.TempDir()
			for k, v := range s.Environment {
				if !strings.HasPrefix(v, "/") {
					t.Setenv(k, v)
					continue
				}
				// A path in the container: lay out what is there.
				local := filepath.Join(dir, k)
				if ref, ok := secretAt(s, v); ok {
					sec := p.Secrets[ref.Source]
					val, ok := values[sec.Environment]
					if sec.Environment == "" || !ok {
						t.Errorf("%s=%s: secret %s does not come from a variable of .env.example", k, v, ref.Source)
						continue
					}
					writeTestFile(t, local, val)
				} else if src := layout.source(t, s, v); certs[src] != "" {
					writeTestFile(t, local, readFile(t, certs[src]))
				} else {
					t.Errorf("%s=%s: nothing is there in the %s container (no secret, nothing tls-init writes)", k, v, name)
					continue
				}
				t.Setenv(k, local)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				t.Fatalf("silt rejects the secured stack's config: %v", err)
			}

			// What silt connects with is what the stack serves and checks.
			k := cfg.Kafka
			if !k.TLS.Enabled || k.TLS.CAFile == "" || k.TLS.InsecureSkipVerify {
				t.Errorf("kafka.tls %+v: want enabled, verifying against the stack's CA", k.TLS)
			}
			if k.SASL.Mechanism == "" || k.SASL.Password != values["KAFKA_SCRAM_PASSWORD"] {
				t.Errorf("kafka.sasl: mechanism %q, password from KAFKA_SCRAM_PASSWORD: %v", k.SASL.Mechanism, k.SASL.Password == values["KAFKA_SCRAM_PASSWORD"])
			}
			s3 := cfg.Lake.S3
			if !s3.Secure || s3.CAFile == "" {
				t.Errorf("lake.s3: secure %v, ca_file %q", s3.Secure, s3.CAFile)
			}
			if s3.AccessKey != values["MINIO_ROOT_USER"] || s3.SecretKey != values["MINIO_ROOT_PASSWORD"] {
				t.Errorf("lake.s3 keys do not come from MINIO_ROOT_USER and MINIO_ROOT_PASSWORD")
			}
			tr := cfg.Catalog.Trino
			u, err := url.Parse(tr.URL)
			if err != nil || u.Scheme != "https" || tr.CAFile == "" {
				t.Errorf("catalog.trino: url %q, ca_file %q: want https with the stack's CA", tr.URL, tr.CAFile)
			}
			if tr.Password != values["TRINO_PASSWORD"] || tr.User == "" {
				t.Errorf("catalog.trino: user %q, password from TRINO_PASSWORD: %v", tr.User, tr.Password == values["TRINO_PASSWORD"])
			}
			if name != "silt" && cfg.Collect.Token != values["COLLECT_TOKEN"] {
				t.Errorf("collect.token does not come from COLLECT_TOKEN")
			}
			for _, want := range []string{values["KAFKA_SCRAM_PASSWORD"], values["MINIO_ROOT_PASSWORD"], values["TRINO_PASSWORD"]} {
				if !slices.Contains(cfg.Secrets(), want) {
					t.Errorf("silt does not treat a password as a secret (it would not scrub it from logs)")
				}
			}

			// The CA silt trusts verifies the server certificate for each
			// host silt dials.
			pool := x509.NewCertPool()
			for _, ca := range []string{k.TLS.CAFile, s3.CAFile, tr.CAFile} {
				if !pool.AppendCertsFromPEM([]byte(readFile(t, ca))) {
					t.Errorf("%s holds no certificate", ca)
				}
			}
			block, _ := pem.Decode([]byte(readFile(t, pki.ServerCert)))
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			for _, addr := range []string{k.Brokers[0], s3.Endpoint, u.Host} {
				host, _, _ := net.SplitHostPort(addr)
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
					t.Errorf("silt dials %s: the stack's server certificate does not verify for it: %v", addr, err)
				}
			}
		})
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
