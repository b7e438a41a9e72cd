package stack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Down must stop the whole process group: a service's own children too.
func TestStopKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The shell ignores TERM so the grace period runs out, and its
	// background child must die with the group all the same.
	cmd := exec.Command("sh", "-c", `trap '' TERM; sleep 300 & echo $! > `+pidFile+`; wait`)
	p, err := startProcess("sh", cmd, filepath.Join(dir, "sh.log"), false)
	require.NoError(t, err)
	var child int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 {
			return false
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.True(t, p.Running())

	require.NoError(t, p.stop(context.Background(), 200*time.Millisecond))
	require.False(t, p.Running())
	require.Eventually(t, func() bool {
		_, err := startTicks(child)
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "child %d survived", child)
}

// A process that cannot be stopped must not leave the run directory
// behind; the state file stays so that stack down can be run again.
func TestDownRemovesDirWhenStopFails(t *testing.T) {
	dir, err := os.MkdirTemp("", "silt-stack-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	stateFile := filepath.Join(t.TempDir(), "state.json")
	// Ignores TERM, so only the (here canceled) grace period could end it.
	cmd := exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 1; done")
	p, err := startProcess("stubborn", cmd, filepath.Join(dir, "stubborn.log"), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(-p.PID, syscall.SIGKILL) })
	s := &Stack{state: State{Dir: dir, Processes: []*Process{p}}, stateFile: stateFile}
	require.NoError(t, writeState(stateFile, &s.state))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Down(ctx)
	require.ErrorContains(t, err, "stop stubborn")
	require.ErrorIs(t, err, context.Canceled)
	require.NoDirExists(t, dir, "the run directory goes even when a stop fails")
	require.FileExists(t, stateFile, "kept for another stack down")

	// The failed stop still sent SIGKILL; a second Down finds it gone.
	require.Eventually(t, func() bool { return !p.Running() }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Down(context.Background()))
	require.NoFileExists(t, stateFile)
}

// A state file read back by another process tells a reused PID from ours,
// and a process that has exited but whose pid still exists (a zombie) from
// a running one: neither can be told by kill(pid, 0).
func TestAttachedProcessChecksStartTime(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ticks, err := startTicks(cmd.Process.Pid)
	require.NoError(t, err)
	// As Attach reads it: a pid and a start time, no exit channel.
	p := &Process{Name: "sleep", PID: cmd.Process.Pid, StartTicks: ticks}
	require.True(t, p.Running())
	reused := *p
	reused.StartTicks = ticks + 1
	require.False(t, reused.Running(), "same pid, other start time: not our process")

	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return !p.Running() }, 5*time.Second, 10*time.Millisecond, "killed, still running")
	require.NoError(t, syscall.Kill(p.PID, 0), "unreaped, the pid still exists: Running must not go by it")
	_ = cmd.Wait()
	require.False(t, p.Running())
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stack", "state.json")
	in := State{Dir: "/tmp/silt-stack-x", Processes: []*Process{{Name: "kafka", PID: 42, StartTicks: 7, Log: "k.log"}},
		Endpoints: Endpoints{S3Endpoint: "127.0.0.1:9000", KafkaBrokers: []string{"127.0.0.1:9092"}, TrinoCLI: []string{"java", "-jar", "cli.jar"}}}
	require.NoError(t, writeState(path, &in))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the state holds the MinIO password")
	s, err := Attach(path)
	require.NoError(t, err)
	require.Equal(t, in.Endpoints, *s.Endpoints())
	require.Equal(t, 42, s.State().Processes[0].PID)
	require.Contains(t, s.Endpoints().Env(), "SILT_KAFKA_BROKERS=127.0.0.1:9092")
}

// Trino's tarball hard-links duplicate jars across plugin directories.
func TestUntarHardLinks(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("jar bytes")
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "trino-1/plugin/a/x.jar", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, err := tw.Write(body)
	require.NoError(t, err)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "trino-1/plugin/b/x.jar", Linkname: "trino-1/plugin/a/x.jar", Typeflag: tar.TypeLink}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "trino-1/../evil", Mode: 0o644, Typeflag: tar.TypeReg}))
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	src := filepath.Join(t.TempDir(), "t.tar.gz")
	require.NoError(t, os.WriteFile(src, buf.Bytes(), 0o644))

	dst := t.TempDir()
	err = untarGz(src, dst)
	require.ErrorContains(t, err, "leaves the target directory")
	got, err := os.ReadFile(filepath.Join(dst, "plugin", "b", "x.jar"))
	require.NoError(t, err)
	require.Equal(t, body, got)
}

func TestJavaMajor(t *testing.T) {
	for release, want := range map[string]int{
		`JAVA_VERSION="25.0.3"`:    25,
		`JAVA_VERSION="17.0.15"`:   17,
		`JAVA_VERSION="1.8.0_402"`: 8,
		`IMPLEMENTOR="x"`:          0,
	} {
		home := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(home, "release"), []byte("IMPLEMENTOR=\"a\"\n"+release+"\n"), 0o644))
		require.Equal(t, want, javaMajor(home), release)
	}
	require.Equal(t, 0, javaMajor(t.TempDir()))
}

// The catalog files Trino gets, parsed as Trino reads them: every line a
// key=value, no key twice, MinIO reached on loopback, path-style, plain
// HTTP, and the metastore lines of each kind.
func TestHiveCatalogIsLoopbackPathStyle(t *testing.T) {
	for kind, metastore := range map[string][]string{
		"file":   fileMetastore("lake"),
		"thrift": thriftMetastore("thrift://127.0.0.1:9083"),
	} {
		t.Run(kind, func(t *testing.T) {
			text := hiveCatalog(metastore, "http://127.0.0.1:9000", "ak", "sk")
			props := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
				k, v, ok := strings.Cut(line, "=")
				require.True(t, ok, "line %q is not key=value", line)
				_, dup := props[k]
				require.False(t, dup, "%s is set twice", k)
				props[k] = v
			}
			endpoint, err := url.Parse(props["s3.endpoint"])
			require.NoError(t, err)
			require.Equal(t, "http", endpoint.Scheme, "s3.endpoint")
			require.Equal(t, "127.0.0.1:9000", endpoint.Host, "s3.endpoint")
			for k, want := range map[string]string{
				"connector.name":                          "hive",
				"fs.native-s3.enabled":                    "true",
				"s3.path-style-access":                    "true",
				"s3.region":                               region,
				"s3.aws-access-key":                       "ak",
				"s3.aws-secret-key":                       "sk",
				"hive.non-managed-table-writes-enabled":   "true",
				"hive.allow-register-partition-procedure": "true",
				"hive.storage-format":                     "PARQUET",
			} {
				require.Equal(t, want, props[k], k)
			}
			switch kind {
			case "file":
				require.Equal(t, "file", props["hive.metastore"])
				require.Equal(t, "s3://lake/_metastore", props["hive.metastore.catalog.dir"])
				require.Equal(t, "true", props["hive.non-managed-table-creates-enabled"])
				require.NotContains(t, props, "hive.metastore.uri")
			case "thrift":
				uri, err := url.Parse(props["hive.metastore.uri"])
				require.NoError(t, err)
				require.Equal(t, "thrift", uri.Scheme)
				require.Equal(t, "127.0.0.1", uri.Hostname())
				require.NotContains(t, props, "hive.metastore", "thrift is the default metastore type")
			}
		})
	}
}

// The StorageTool reads a cluster id starting with "-" as an option.
func TestClusterIDIsNotAnOption(t *testing.T) {
	for range 10000 { // one random id in 64 started with "-"
		id := clusterID()
		require.Len(t, id, 22)
		require.NotEqual(t, byte('-'), id[0], id)
	}
}

func secureEndpoints() *Endpoints {
	return &Endpoints{
		Secure:     true,
		S3Endpoint: "127.0.0.1:9000", S3AccessKey: "ak", S3SecretKey: "sk", S3Bucket: "lake", S3Region: region,
		KafkaBrokers: []string{"127.0.0.1:9093"}, KafkaSASLBrokers: []string{"127.0.0.1:9093"}, KafkaMTLSBrokers: []string{"127.0.0.1:9094"},
		KafkaSCRAMUser: "silt", KafkaSCRAMPassword: "scram-pw", KafkaPlainUser: "silt", KafkaPlainPassword: "scram-pw",
		CAFile: "/run/certs/ca.crt", CAKeyFile: "/run/certs/ca.key", S3CAFile: "/run/certs/ca.crt", S3KMSKeyID: kmsKeyID,
		ClientCertFile: "/run/certs/client.crt", ClientKeyFile: "/run/certs/client.key",
		TrinoURL: "https://silt@127.0.0.1:8443", TrinoServer: "https://127.0.0.1:8443", TrinoCatalog: "hive",
		TrinoUser: "silt", TrinoPassword: "trino-pw", TrinoCLI: []string{"java", "-jar", "cli.jar"}, TrinoCLIEnv: []string{"TRINO_PASSWORD=trino-pw"},
	}
}

func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, kv)
		_, dup := m[k]
		require.False(t, dup, "%s twice", k)
		m[k] = v
	}
	return m
}

// A secure stack's Env points silt at Kafka over SASL_SSL with SCRAM, at
// MinIO and Trino over https with the CA; EnvMTLS swaps SASL for the
// client certificate on the mTLS listener. Every key is one config reads.
func TestSecureEnv(t *testing.T) {
	e := secureEndpoints()
	common := map[string]string{
		"SILT_KAFKA_TLS_ENABLED": "true",
		"SILT_KAFKA_TLS_CA_FILE": "/run/certs/ca.crt",
		"SILT_LAKE_KIND":         "s3",
		"SILT_S3_ENDPOINT":       "127.0.0.1:9000",
		"SILT_S3_BUCKET":         "lake",
		"SILT_S3_REGION":         region,
		"SILT_S3_ACCESS_KEY":     "ak",
		"SILT_S3_SECRET_KEY":     "sk",
		"SILT_S3_SECURE":         "true",
		"SILT_S3_CA_FILE":        "/run/certs/ca.crt",
		"SILT_S3_PATH_STYLE":     "true",
		"SILT_CATALOG_KIND":      "trino",
		"SILT_TRINO_URL":         "https://silt@127.0.0.1:8443",
		"SILT_TRINO_CATALOG":     "hive",
		"SILT_TRINO_USER":        "silt",
		"SILT_TRINO_PASSWORD":    "trino-pw",
		"SILT_TRINO_CA_FILE":     "/run/certs/ca.crt",
	}
	want := maps.Clone(common)
	maps.Copy(want, map[string]string{
		"SILT_KAFKA_BROKERS":        "127.0.0.1:9093",
		"SILT_KAFKA_SASL_MECHANISM": "scram-sha-512",
		"SILT_KAFKA_SASL_USERNAME":  "silt",
		"SILT_KAFKA_SASL_PASSWORD":  "scram-pw",
	})
	require.Equal(t, want, envMap(t, e.Env()))

	want = maps.Clone(common)
	maps.Copy(want, map[string]string{
		"SILT_KAFKA_BROKERS":       "127.0.0.1:9094",
		"SILT_KAFKA_TLS_CERT_FILE": "/run/certs/client.crt",
		"SILT_KAFKA_TLS_KEY_FILE":  "/run/certs/client.key",
	})
	require.Equal(t, want, envMap(t, e.EnvMTLS()))

	// Every variable is one internal/config reads.
	src, err := os.ReadFile(filepath.Join("..", "config", "config.go"))
	require.NoError(t, err)
	for _, kv := range append(e.Env(), e.EnvMTLS()...) {
		k, _, _ := strings.Cut(kv, "=")
		require.Contains(t, string(src), `env:"`+k+`"`, "%s is not a config variable", k)
	}

	// The plain stack's Env is as it always was, and EnvMTLS is the same.
	plain := &Endpoints{S3Endpoint: "127.0.0.1:9000", S3AccessKey: "ak", S3SecretKey: "sk", S3Bucket: "lake", S3Region: region,
		KafkaBrokers: []string{"127.0.0.1:9092"}, TrinoURL: "http://silt@127.0.0.1:8080", TrinoCatalog: "hive"}
	require.Equal(t, []string{
		"SILT_KAFKA_BROKERS=127.0.0.1:9092",
		"SILT_LAKE_KIND=s3",
		"SILT_S3_ENDPOINT=127.0.0.1:9000",
		"SILT_S3_BUCKET=lake",
		"SILT_S3_REGION=" + region,
		"SILT_S3_ACCESS_KEY=ak",
		"SILT_S3_SECRET_KEY=sk",
		"SILT_S3_SECURE=false",
		"SILT_S3_PATH_STYLE=true",
		"SILT_CATALOG_KIND=trino",
		"SILT_TRINO_URL=http://silt@127.0.0.1:8080",
		"SILT_TRINO_CATALOG=hive",
	}, plain.Env())
	require.Equal(t, plain.Env(), plain.EnvMTLS())
}

// The secure fields survive the state file; a plain state has none of
// them (omitempty), so older readers see the same JSON.
func TestSecureStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	in := State{Dir: "/tmp/silt-stack-secure-x", Endpoints: *secureEndpoints()}
	require.NoError(t, writeState(path, &in))
	s, err := Attach(path)
	require.NoError(t, err)
	require.Equal(t, in.Endpoints, *s.Endpoints())

	b, err := json.Marshal(Endpoints{S3Endpoint: "127.0.0.1:9000"})
	require.NoError(t, err)
	for _, k := range []string{"secure", "ca_file", "kafka_sasl_brokers", "trino_password", "trino_cli_env", "s3_kms_key_id"} {
		require.NotContains(t, string(b), `"`+k+`"`)
	}
}

// TrinoCommand adds TrinoCLIEnv to the CLI's environment.
func TestTrinoCommandEnv(t *testing.T) {
	e := secureEndpoints()
	cmd := e.TrinoCommand(t.Context(), "--execute", "SELECT 1")
	require.Equal(t, []string{"java", "-jar", "cli.jar", "--execute", "SELECT 1"}, cmd.Args)
	require.Contains(t, cmd.Env, "TRINO_PASSWORD=trino-pw")
	require.Equal(t, []string{"java", "-jar", "cli.jar"}, e.TrinoCLI, "TrinoCLI is not appended to in place")
	plain := &Endpoints{TrinoCLI: []string{"java", "-jar", "cli.jar"}}
	require.Nil(t, plain.TrinoCommand(t.Context()).Env, "the plain CLI inherits the environment as is")
}

// The secure broker config: the listeners and SASL settings the issue
// asks for, no PLAINTEXT client listener, and otherwise the plain
// broker's settings.
func TestSecureKafkaProps(t *testing.T) {
	sec := &security{certs: &CertFiles{CA: "/c/ca.crt", ServerPEM: "/c/server.pem"}, kafkaAdminPassword: "adminpw", kafkaPassword: "siltpw"}
	props := map[string]string{}
	for _, line := range secureKafkaProps("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "/data", sec) {
		k, v, ok := strings.Cut(line, "=")
		if line == "" {
			continue
		}
		require.True(t, ok, line)
		_, dup := props[k]
		require.False(t, dup, "%s twice", k)
		props[k] = v
	}
	for k, want := range map[string]string{
		"listeners":                                             "SASL_SSL://127.0.0.1:1,SSL://127.0.0.1:2,CONTROLLER://127.0.0.1:3",
		"advertised.listeners":                                  "SASL_SSL://127.0.0.1:1,SSL://127.0.0.1:2",
		"listener.security.protocol.map":                        "SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":                            "SASL_SSL",
		"sasl.enabled.mechanisms":                               "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"sasl.mechanism.inter.broker.protocol":                  "PLAIN",
		"listener.name.ssl.ssl.client.auth":                     "required",
		"ssl.keystore.type":                                     "PEM",
		"ssl.keystore.location":                                 "/c/server.pem",
		"ssl.truststore.type":                                   "PEM",
		"ssl.truststore.location":                               "/c/ca.crt",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":         `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="adminpw" user_admin="adminpw" user_silt="siltpw";`,
	} {
		require.Equal(t, want, props[k], k)
	}
	require.NotContains(t, props["listeners"], "PLAINTEXT://")
	require.NotContains(t, props, "ssl.client.auth", "client certificates on the SSL listener only")
	for _, line := range kafkaProps("127.0.0.1:1", "127.0.0.1:3", "/data") {
		k, v, _ := strings.Cut(line, "=")
		if k == "" || strings.Contains(k, "listener") {
			continue
		}
		require.Equal(t, v, props[k], "%s as on the plain broker", k)
	}
}

// Trino's file authenticator takes bcrypt with the $2y$ prefix and cost
// of at least 8, and the hash checks against the password.
func TestTrinoPasswordFile(t *testing.T) {
	text, err := trinoPasswordFile(map[string]string{"silt": "s3cret"})
	require.NoError(t, err)
	user, hash, ok := strings.Cut(strings.TrimSpace(text), ":")
	require.True(t, ok, text)
	require.Equal(t, "silt", user)
	require.True(t, strings.HasPrefix(hash, "$2y$10$"), hash)
	// Go's bcrypt reads $2y$ as the same algorithm as its own $2a$.
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")))
	require.Error(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("wrong")))
}

// The secure Trino config: https only, password file, shared secret.
func TestTrinoSecureConfig(t *testing.T) {
	etc := t.TempDir()
	tr := &trinoService{port: 8443, sec: &security{certs: &CertFiles{CA: "/c/ca.crt", ServerPEM: "/c/server.pem"}, trinoPassword: "pw", trinoSharedSecret: "shh"}}
	config, files, err := tr.secureConfig(etc)
	require.NoError(t, err)
	props := parseProperties(strings.Join(config, "\n"))
	for k, want := range map[string]string{
		"http-server.http.enabled":                            "false",
		"http-server.https.enabled":                           "true",
		"http-server.https.port":                              "8443",
		"http-server.https.keystore.path":                     "/c/server.pem",
		"http-server.authentication.type":                     "PASSWORD",
		"http-server.authentication.allow-insecure-over-http": "false",
		"internal-communication.shared-secret":                "shh",
		"internal-communication.https.required":               "true",
		"internal-communication.https.truststore.path":        "/c/ca.crt",
		"password-authenticator.config-files":                 filepath.Join(etc, "password-authenticator.properties"),
	} {
		require.Equal(t, want, props[k], k)
	}
	auth := parseProperties(files["password-authenticator.properties"])
	require.Equal(t, "file", auth["password-authenticator.name"])
	require.Equal(t, filepath.Join(etc, "password.db"), auth["file.password-file"])
	require.True(t, strings.HasPrefix(files["password.db"], "silt:$2y$"), files["password.db"])
	require.Equal(t, "https://127.0.0.1:8443", tr.serverURL())
	require.Equal(t, "https://silt@127.0.0.1:8443", tr.dsn())
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":    "127.0.0.1:8080",
		"https://127.0.0.1:8443/x": "127.0.0.1:8443",
		"thrift://127.0.0.1:9083":  "127.0.0.1:9083",
		"127.0.0.1:9000":           "127.0.0.1:9000",
	} {
		require.Equal(t, want, hostPort(in), in)
	}
}

// The metastore's S3A follows MinIO's scheme (docker compose's and the
// plain stack's http, the secure stack's https), and on a secure stack
// encrypts what it writes with the KMS key through the JVM's trust store.
func TestMetastorePropsFollowMinIOScheme(t *testing.T) {
	props := func(p [][2]string) map[string]string {
		m := map[string]string{}
		for _, kv := range p {
			_, dup := m[kv[0]]
			require.False(t, dup, "%s twice", kv[0])
			m[kv[0]] = kv[1]
		}
		return m
	}
	plain := props(metastoreProps(9083, "/db", bucket, "http://127.0.0.1:9000", "ak", "sk"))
	require.Equal(t, "http://127.0.0.1:9000", plain["fs.s3a.endpoint"])
	require.Equal(t, "false", plain["fs.s3a.connection.ssl.enabled"])
	require.NotContains(t, plain, "fs.s3a.encryption.algorithm")

	secure := props(append(metastoreProps(9083, "/db", bucket, "https://127.0.0.1:9000", "ak", "sk"), metastoreSSEProps(kmsKeyID)...))
	require.Equal(t, "https://127.0.0.1:9000", secure["fs.s3a.endpoint"])
	require.Equal(t, "true", secure["fs.s3a.connection.ssl.enabled"])
	require.Equal(t, "SSE-KMS", secure["fs.s3a.encryption.algorithm"])
	require.Equal(t, kmsKeyID, secure["fs.s3a.encryption.key"])
	require.Equal(t, "default_jsse", secure["fs.s3a.ssl.channel.mode"])
	require.Equal(t, "127.0.0.1", secure["metastore.thrift.bind.host"], "plain Thrift stays on loopback")

	sec := &security{trustStore: "/run/certs/truststore.p12", trustStorePassword: "pw"}
	require.Equal(t, []string{
		"-Djavax.net.ssl.trustStore=/run/certs/truststore.p12",
		"-Djavax.net.ssl.trustStoreType=PKCS12",
		"-Djavax.net.ssl.trustStorePassword=pw",
	}, jvmTrustStore(sec))
}

// A secure stack with a metastore gives Trino the plain stack's four
// catalogs, each on MinIO over https and writing SSE-KMS with the stack's
// key, the two on the metastore over its loopback Thrift port.
func TestSecureMetastoreCatalogs(t *testing.T) {
	catalogs := func(secure bool) map[string]map[string]string {
		l, err := newLaunch(Options{Secure: secure, Metastore: true, CacheDir: t.TempDir()}, t.TempDir(), &Stack{})
		require.NoError(t, err)
		out := map[string]map[string]string{}
		for name, body := range l.catalogs {
			props := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
				k, v, ok := strings.Cut(line, "=")
				require.True(t, ok, "%s: line %q is not key=value", name, line)
				_, dup := props[k]
				require.False(t, dup, "%s: %s is set twice", name, k)
				props[k] = v
			}
			out[name] = props
		}
		return out
	}
	secure := catalogs(true)
	require.ElementsMatch(t, []string{"hive", icebergCatalogName, hmsCatalog, hmsIcebergCatalog}, slices.Collect(maps.Keys(secure)))
	for name, props := range secure {
		require.True(t, strings.HasPrefix(props["s3.endpoint"], "https://127.0.0.1:"), "%s: %s", name, props["s3.endpoint"])
		require.Equal(t, "KMS", props["s3.sse.type"], name)
		require.Equal(t, kmsKeyID, props["s3.sse.kms-key-id"], name)
	}
	for _, name := range []string{hmsCatalog, hmsIcebergCatalog} {
		uri, err := url.Parse(secure[name]["hive.metastore.uri"])
		require.NoError(t, err)
		require.Equal(t, "thrift", uri.Scheme, name)
		require.Equal(t, "127.0.0.1", uri.Hostname(), name)
	}
	require.Equal(t, "hive_metastore", secure[hmsIcebergCatalog]["iceberg.catalog.type"])
	for name, props := range catalogs(false) {
		require.NotContains(t, props, "s3.sse.type", "%s: a plain stack leaves encryption to the bucket", name)
	}
}
