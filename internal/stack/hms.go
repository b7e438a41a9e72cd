package stack

import (
	"context"
	_ "embed"
	"fmt"
	"html"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// hmsPom lists the metastore's jars; versions come from versions.go.
//
//go:embed maven/hms-pom.xml
var hmsPom []byte

func hmsLibs(cache string) string {
	return filepath.Join(cache, "hms-"+HiveVersion, "libs")
}

func (in *installer) installHMS(ctx context.Context) error {
	libs := hmsLibs(in.cache)
	done := filepath.Join(filepath.Dir(libs), ".complete")
	return in.once("hms", func() bool { return fileExists(done) }, func() error {
		in.say("fetching Hive Metastore %s jars (with Hadoop %s S3A, ~420 MB) from Maven Central into %s", HiveVersion, HadoopVersion, libs)
		tmp, err := os.MkdirTemp(in.cache, ".hms-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		if err := os.WriteFile(filepath.Join(tmp, "pom.xml"), hmsPom, 0o644); err != nil {
			return err
		}
		_ = os.RemoveAll(libs)
		err = in.maven(ctx, tmp, mavenDependencyPlugin("copy-dependencies"),
			"-Dhive.version="+HiveVersion, "-Dhadoop.version="+HadoopVersion, "-Dderby.version="+DerbyVersion,
			"-DincludeScope=runtime", "-DoutputDirectory="+libs)
		if err != nil {
			return err
		}
		return os.WriteFile(done, nil, 0o644)
	})
}

type hmsService struct {
	port int
	dir  string
	java string
	sec  *security // nil: MinIO over plain http
	proc *Process
}

func newHMS(runDir string, sec *security) (*hmsService, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &hmsService{port: port, dir: filepath.Join(runDir, "metastore"), sec: sec}, nil
}

func (h *hmsService) addr() string { return "127.0.0.1:" + strconv.Itoa(h.port) }
func (h *hmsService) uri() string  { return "thrift://" + h.addr() }

// start runs the metastore on an embedded Derby database whose schema
// DataNucleus creates on first use (no schematool: its SQL scripts are not
// in the Maven jars). The S3A settings let it check s3:// locations; s3URL
// is MinIO's URL with its scheme (https on a secure stack).
//
// On a secure stack S3A speaks https to MinIO trusting the stack's CA
// (the JVM's default trust store, as for Trino) and encrypts the
// directory markers it writes with the KMS key, as silt encrypts its
// objects. Its Thrift port stays plain on 127.0.0.1: iceberg-go's and
// silt's metastore clients (gohive) speak no TLS (see the README).
func (h *hmsService) start(cache, s3URL, accessKey, secretKey, bucket string, detach bool) error {
	conf := filepath.Join(h.dir, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		return fmt.Errorf("create metastore dirs: %w", err)
	}
	props := metastoreProps(h.port, filepath.Join(h.dir, "db"), bucket, s3URL, accessKey, secretKey)
	if h.sec != nil {
		props = append(props, metastoreSSEProps(kmsKeyID)...)
	}
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	for _, p := range props {
		fmt.Fprintf(&b, "  <property><name>%s</name><value>%s</value></property>\n", p[0], html.EscapeString(p[1]))
	}
	b.WriteString("</configuration>\n")
	if err := os.WriteFile(filepath.Join(conf, "metastore-site.xml"), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write metastore config: %w", err)
	}
	log4j := filepath.Join(conf, "log4j2.properties")
	if err := os.WriteFile(log4j, []byte(hmsLog4j), 0o644); err != nil {
		return fmt.Errorf("write metastore log config: %w", err)
	}
	args := []string{"-Xmx512m", "-Dlog4j2.configurationFile=" + log4j,
		"--add-opens=java.base/java.lang=ALL-UNNAMED",
		"--add-opens=java.base/java.net=ALL-UNNAMED",
		"--add-opens=java.base/java.util=ALL-UNNAMED",
		"--add-opens=java.base/java.nio=ALL-UNNAMED",
		"-Dderby.stream.error.file=" + filepath.Join(h.dir, "derby.log")}
	if h.sec != nil {
		args = append(args, jvmTrustStore(h.sec)...)
	}
	args = append(args, "-cp", conf+string(os.PathListSeparator)+filepath.Join(hmsLibs(cache), "*"),
		"org.apache.hadoop.hive.metastore.HiveMetaStore")
	cmd := exec.Command(h.java, args...)
	cmd.Dir = h.dir
	var err error
	h.proc, err = startProcess("metastore", cmd, filepath.Join(h.dir, "metastore.log"), detach)
	return err
}

// metastoreProps is the metastore's configuration. docker/hive/metastore-site.xml
// has the same settings for compose; docker_test.go keeps them equal.
func metastoreProps(port int, dbDir, bucket, s3URL, accessKey, secretKey string) [][2]string {
	return [][2]string{
		{"metastore.thrift.port", strconv.Itoa(port)},
		{"metastore.thrift.bind.host", "127.0.0.1"},
		{"javax.jdo.option.ConnectionURL", "jdbc:derby:;databaseName=" + dbDir + ";create=true"},
		{"javax.jdo.option.ConnectionDriverName", "org.apache.derby.jdbc.EmbeddedDriver"},
		{"datanucleus.schema.autoCreateAll", "true"},
		{"metastore.schema.verification", "false"},
		{"metastore.warehouse.dir", "s3a://" + bucket + "/_hms/warehouse"},
		{"fs.s3.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem"},
		{"fs.s3a.endpoint", s3URL},
		{"fs.s3a.endpoint.region", region},
		{"fs.s3a.path.style.access", "true"},
		{"fs.s3a.connection.ssl.enabled", strconv.FormatBool(strings.HasPrefix(s3URL, "https://"))},
		{"fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"},
		{"fs.s3a.access.key", accessKey},
		{"fs.s3a.secret.key", secretKey},
	}
}

// metastoreSSEProps encrypt what S3A writes (the empty directory markers
// of database and table locations) with MinIO's KMS key. S3A's JSSE
// channel uses the JVM's trust store (jvmTrustStore) rather than the
// OpenSSL binding it prefers when present.
func metastoreSSEProps(keyID string) [][2]string {
	return [][2]string{
		{"fs.s3a.encryption.algorithm", "SSE-KMS"},
		{"fs.s3a.encryption.key", keyID},
		{"fs.s3a.ssl.channel.mode", "default_jsse"},
	}
}

// ready waits for the Thrift port; Trino's SHOW SCHEMAS over it is the
// real check, done once Trino is up.
func (h *hmsService) ready(ctx context.Context) error {
	return poll(ctx, h.proc, "thrift port", func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", h.addr())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// thriftMetastore points a hive catalog at the Thrift metastore: the
// configuration the docker compose stack uses.
func thriftMetastore(uri string) []string { return []string{"hive.metastore.uri=" + uri} }

const hmsLog4j = `rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = %d %p %c{1}: %m%n
logger.hms.name = org.apache.hadoop.hive.metastore.HiveMetaStore
logger.hms.level = INFO
`
