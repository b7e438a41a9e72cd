//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// secureRun is one `silt` invocation against the secure stack.
type secureRun struct {
	out, err string
	code     int
	took     time.Duration
}

// secureSilt runs the built binary with env (config from the environment
// only) and records everything it printed, for the secrets check.
type secureSilt struct {
	t       *testing.T
	bin     string
	printed *bytes.Buffer
}

func (s secureSilt) run(env []string, args ...string) secureRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := secureRun{out: stdout.String(), err: stderr.String(), took: time.Since(start)}
	if err != nil {
		exit, ok := err.(*exec.ExitError)
		require.True(s.t, ok, "silt %v: %v", args, err)
		r.code = exit.ExitCode()
	}
	fmt.Fprintf(s.printed, "$ silt %v\n%s%s", args, r.out, r.err)
	return r
}

func (s secureSilt) ok(env []string, args ...string) string {
	s.t.Helper()
	r := s.run(env, args...)
	require.Zero(s.t, r.code, "silt %v:\n%s\n%s", args, r.out, r.err)
	return r.out
}

// secureEnv is the secure stack's environment (SASL_SSL or mTLS) with a
// topic, group, lake prefix and Trino schema of the test's own.
func secureEnv(e *stack.Endpoints, mtls bool, name string) []string {
	env := envWithout("SILT_")
	if mtls {
		env = append(env, e.EnvMTLS()...)
	} else {
		env = append(env, e.Env()...)
	}
	return append(env, "SILT_KAFKA_TOPICS="+name, "SILT_KAFKA_GROUP="+name, "SILT_COLLECT_TOPIC="+name,
		"SILT_S3_PREFIX="+name, "SILT_TRINO_SCHEMA="+name, "SILT_TRINO_LOCATION="+e.TrinoSchemaLocation+name+"/")
}

func without(env []string, prefixes ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

type genCounts struct {
	Accepted int64
	Counts   []struct {
		EventType string `json:"event_type"`
		Host      string `json:"host"`
		Count     int64  `json:"count"`
	}
}

func (g genCounts) byHost() map[string]int64 {
	m := map[string]int64{}
	for _, c := range g.Counts {
		m[c.Host] += c.Count
	}
	return m
}

func (g genCounts) types() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range g.Counts {
		if !seen[c.EventType] {
			seen[c.EventType] = true
			out = append(out, c.EventType)
		}
	}
	return out
}

func genEvents(t *testing.T, s secureSilt, env []string, n int, seed int) genCounts {
	t.Helper()
	var g genCounts
	out := s.ok(env, "gen", "--count", strconv.Itoa(n), "--rate", "0", "--seed", strconv.Itoa(seed), "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &g), out)
	require.EqualValues(t, n, g.Accepted)
	return g
}

func ingestOnce(t *testing.T, s secureSilt, env []string) int64 {
	t.Helper()
	var totals struct{ Events int64 }
	out := s.ok(env, "ingest", "--once", "--json-stats")
	require.NoError(t, json.Unmarshal([]byte(out), &totals), out)
	return totals.Events
}

// trinoByHost counts rows per host over the given tables through the
// trino CLI over HTTPS with the password.
func trinoByHost(t *testing.T, e *stack.Endpoints, schema string, tables []string) map[string]int64 {
	t.Helper()
	var union []string
	for _, typ := range tables {
		union = append(union, fmt.Sprintf(`SELECT host FROM "%s"`, typ))
	}
	q := "SELECT host, count(*) FROM (" + strings.Join(union, " UNION ALL ") + ") GROUP BY host ORDER BY host"
	cmd := e.TrinoCommand(t.Context(), "--catalog", e.TrinoCatalog, "--schema", schema, "--output-format", "TSV", "--execute", q)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "trino CLI: %s", stderr.String())
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		h, c, ok := strings.Cut(line, "\t")
		require.True(t, ok, line)
		n, err := strconv.ParseInt(c, 10, 64)
		require.NoError(t, err)
		got[h] = n
	}
	return got
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// TestSecureE2EPipelineOverTLSAndAuth is gen -> ingest -> register ->
// report -> trino CLI on the secure stack (Kafka SASL_SSL with
// SCRAM-SHA-512, MinIO over TLS, Trino over HTTPS with a password); the
// same over Kafka mTLS; the collector and the events API over it; silt run's
// pages; and no secret in anything silt printed or served.
func TestSecureE2EPipelineOverTLSAndAuth(t *testing.T) {
	e := stacktest.Secure(t)
	s := secureSilt{t: t, bin: stacktest.SiltBin(t), printed: &bytes.Buffer{}}
	name := fmt.Sprintf("secure_e2e_%d", time.Now().UnixNano()%1e9)
	// Every object encrypted with MinIO's KMS key (SSE-KMS); Trino reads
	// them back through MinIO.
	env := append(secureEnv(e, false, name), "SILT_S3_SSE=kms", "SILT_S3_SSE_KMS_KEY_ID="+e.S3KMSKeyID)

	check := s.ok(env, "check")
	for _, svc := range []string{"kafka", "lake", "catalog"} {
		require.Regexp(t, `(?m)^`+svc+`\s+ok\s`, check)
	}
	require.Contains(t, check, "SASL scram-sha-512")

	g := genEvents(t, s, env, 3000, 5)
	require.EqualValues(t, 3000, ingestOnce(t, s, env))
	stacktest.RequireEncrypted(t, e, name+"/", ".parquet")
	require.Equal(t, g.byHost(), trinoByHost(t, e, name, g.types()), "events per host through the trino CLI over HTTPS")

	csvPath := filepath.Join(t.TempDir(), "hosts.csv")
	s.ok(env, "report", "host_breakdown", "--out", csvPath)
	f, err := os.Open(csvPath)
	require.NoError(t, err)
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, f.Close())
	require.NoError(t, err)
	reported := map[string]int64{}
	for _, r := range recs[1:] {
		n, err := strconv.ParseInt(r[2], 10, 64)
		require.NoError(t, err)
		reported[r[0]] += n
	}
	require.Equal(t, g.byHost(), reported, "host_breakdown over HTTPS Trino")

	// The same over the mTLS listener, with a client certificate and no SASL.
	mname := name + "_mtls"
	menv := secureEnv(e, true, mname)
	require.Regexp(t, `(?m)^kafka\s+ok\s.*client certificate`, s.ok(menv, "check"))
	mg := genEvents(t, s, menv, 1000, 6)
	require.EqualValues(t, 1000, ingestOnce(t, s, menv))
	require.Equal(t, mg.byHost(), trinoByHost(t, e, mname, mg.types()))

	// The collector publishes over SASL_SSL; its events API reads through
	// Trino over HTTPS.
	cname := name + "_collect"
	collectAddr := freeAddr(t)
	cenv := append(secureEnv(e, false, cname), "SILT_COLLECT_LISTEN="+collectAddr)
	collector := exec.Command(s.bin, "collect")
	collector.Env = cenv
	var colOut bytes.Buffer
	collector.Stdout, collector.Stderr = &colOut, &colOut
	require.NoError(t, collector.Start())
	t.Cleanup(func() { _ = collector.Process.Kill(); _ = collector.Wait() })
	var body strings.Builder
	for i := range 40 {
		fmt.Fprintf(&body, `{"event_type":"join_guild","host":"h%d","timestamp":%d}`+"\n", i%4, time.Now().Add(-time.Minute).UnixMilli())
	}
	require.Eventually(t, func() bool {
		resp, err := http.Post("http://"+collectAddr+"/events", "application/x-ndjson", strings.NewReader(body.String()))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusAccepted
	}, time.Minute, 200*time.Millisecond, "the collector accepts events over SASL_SSL Kafka:\n%s", &colOut)
	require.EqualValues(t, 40, ingestOnce(t, s, cenv))
	require.EqualValues(t, 40, apiGet[int64](t, "http://"+collectAddr+"/api/events/count?event_type=join_guild"),
		"the events API through Trino over HTTPS")
	require.NoError(t, collector.Process.Signal(os.Interrupt))
	_ = collector.Wait()
	fmt.Fprintf(s.printed, "$ silt collect\n%s", colOut.String())

	// silt run: its status page, /metrics, /readyz, and silt jobs.
	runEnv := append(secureEnv(e, false, name), "SILT_HTTP_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, t.TempDir(), runEnv)
	url := d.StatusURL(t)
	d.WaitFor(t, "a Connections section with every service ok", 2*time.Minute, func() bool {
		page := httpGet(t, url)
		return strings.Count(page, `<td class="ok">ok`) >= 3
	})
	served := httpGet(t, url) + httpGet(t, url+"metrics") + httpGet(t, url+"readyz")
	d.Stop(t)
	jobs := s.ok(runEnv, "jobs")

	everything := s.printed.String() + d.Output() + served + jobs
	for _, secret := range []string{e.KafkaSCRAMPassword, e.KafkaPlainPassword, e.S3SecretKey, e.TrinoPassword} {
		require.NotEmpty(t, secret)
		require.NotContains(t, everything, secret, "a secret in silt's output, pages or metrics")
	}
}

// TestSecureE2EBadCredentialsAreNamedAndLoseNothing gives silt each wrong
// credential a user can: every one fails within 30 s with its cause and
// key (in the command's error and in silt check), nothing is consumed
// while it fails, and once the credentials are right every event is
// ingested exactly once.
func TestSecureE2EBadCredentialsAreNamedAndLoseNothing(t *testing.T) {
	e := stacktest.Secure(t)
	s := secureSilt{t: t, bin: stacktest.SiltBin(t), printed: &bytes.Buffer{}}
	name := fmt.Sprintf("secure_bad_%d", time.Now().UnixNano()%1e9)
	good := secureEnv(e, false, name)
	g := genEvents(t, s, good, 500, 9)
	kafkaOpts := stacktest.KafkaOpts(t, e)

	otherCA, err := stack.GenerateCerts(t.TempDir(), nil)
	require.NoError(t, err)
	mtls := secureEnv(e, true, name)
	cases := []struct {
		name, service, want string
		env                 []string
	}{
		{"wrong SCRAM password", "kafka", "Kafka refused the SASL credentials",
			append(without(good, "SILT_KAFKA_SASL_PASSWORD="), "SILT_KAFKA_SASL_PASSWORD=not-the-password")},
		{"untrusted broker CA", "kafka", "kafka.tls.ca_file",
			append(without(good, "SILT_KAFKA_TLS_CA_FILE="), "SILT_KAFKA_TLS_CA_FILE="+otherCA.CA)},
		{"plaintext client on the TLS port", "kafka", "expects TLS",
			append(without(good, "SILT_KAFKA_TLS_", "SILT_KAFKA_SASL_"), "SILT_KAFKA_TLS_ENABLED=false")},
		{"expired client certificate", "kafka", "client certificate",
			append(without(mtls, "SILT_KAFKA_TLS_CERT_FILE=", "SILT_KAFKA_TLS_KEY_FILE="),
				"SILT_KAFKA_TLS_CERT_FILE="+e.ExpiredClientCertFile, "SILT_KAFKA_TLS_KEY_FILE="+e.ExpiredClientKeyFile)},
		{"wrong S3 secret key", "lake", "lake.s3.secret_key",
			append(without(good, "SILT_S3_SECRET_KEY="), "SILT_S3_SECRET_KEY=not-the-secret-key")},
		{"untrusted S3 CA", "lake", "lake.s3.ca_file",
			append(without(good, "SILT_S3_CA_FILE="), "SILT_S3_CA_FILE="+otherCA.CA)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.run(c.env, "ingest", "--once")
			require.NotZero(t, r.code, "ingest must fail:\n%s", r.err)
			require.Contains(t, r.err, c.want, "the error names the cause")
			require.Less(t, r.took, 30*time.Second, "named within seconds, not after a retry storm")

			r = s.run(c.env, "check")
			require.Equal(t, 1, r.code, "silt check exits 1:\n%s", r.out)
			require.Regexp(t, `(?m)^`+c.service+`\s+FAIL\s.*`+c.want, r.out)
			require.Less(t, r.took, 30*time.Second)
			t.Logf("%s: ingest and check failed in %s, naming %q", c.name, r.took.Round(time.Millisecond), c.want)
		})
	}
	require.EqualValues(t, 500, stacktest.GroupLagWith(t, kafkaOpts, name, name), "nothing was consumed while credentials were wrong")

	// A wrong Trino password: check names it, and a query fails fast.
	badTrino := append(without(good, "SILT_TRINO_PASSWORD="), "SILT_TRINO_PASSWORD=not-the-password")
	r := s.run(badTrino, "check")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `(?m)^catalog\s+FAIL\s.*catalog.trino.password`, r.out)
	r = s.run(badTrino, "query", "SELECT 1")
	require.NotZero(t, r.code)
	require.Contains(t, r.err, "401")
	require.Less(t, r.took, 30*time.Second)

	// silt run with a wrong Kafka password says so on /readyz and the page.
	runEnv := append(without(good, "SILT_KAFKA_SASL_PASSWORD="), "SILT_KAFKA_SASL_PASSWORD=not-the-password", "SILT_HTTP_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, t.TempDir(), runEnv)
	url := d.StatusURL(t)
	d.WaitFor(t, "/readyz naming the refused login", time.Minute, func() bool {
		resp, err := http.Get(url + "readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(b.String(), "Kafka refused the SASL credentials")
	})
	require.Contains(t, httpGet(t, url), "failing: Kafka refused the SASL credentials")
	d.Stop(t)
	require.EqualValues(t, 500, stacktest.GroupLagWith(t, kafkaOpts, name, name))

	// Credentials fixed: every event, once.
	require.EqualValues(t, 500, ingestOnce(t, s, good))
	require.Zero(t, stacktest.GroupLagWith(t, kafkaOpts, name, name))
	require.Equal(t, g.byHost(), trinoByHost(t, e, name, g.types()))
	for _, secret := range []string{e.KafkaSCRAMPassword, e.S3SecretKey, e.TrinoPassword} {
		require.NotContains(t, s.printed.String()+d.Output(), secret)
	}
}
