package stack

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The docker compose stack (docker/) runs the same services as this
// launcher. Its settings are kept equal to the launcher's by these tests,
// with compose's hostnames put in: only what is inherently different (the
// metastore's database, loopback binding, a listener for the host,
// credentials from the environment instead of files) may differ, and each
// such key is named below with its reason.

func dockerFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docker", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read docker/%s: %v", rel, err)
	}
	return b
}

func parseProperties(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

// compareSettings reports keys whose values differ, except those in
// differ, and keys present on one side only, except those in only.
func compareSettings(t *testing.T, what string, native, docker map[string]string, differ, nativeOnly map[string]string) {
	t.Helper()
	for k, nv := range native {
		dv, ok := docker[k]
		switch {
		case !ok && nativeOnly[k] == "":
			t.Errorf("%s: %s=%s is set by the launcher but not in docker/", what, k, nv)
		case ok && nativeOnly[k] != "":
			t.Errorf("%s: %s is in docker/ but should be launcher-only (%s)", what, k, nativeOnly[k])
		case ok && dv != nv && differ[k] == "":
			t.Errorf("%s: %s is %q in docker/ but %q in the launcher", what, k, dv, nv)
		}
	}
	for k, dv := range docker {
		if _, ok := native[k]; !ok {
			t.Errorf("%s: %s=%s is in docker/ but not in the launcher: add it to both", what, k, dv)
		}
	}
}

func TestDockerTrinoCatalogMatchesLauncher(t *testing.T) {
	// Compose reaches the metastore and MinIO by service name, and Trino
	// reads the keys from its environment.
	native := parseProperties(hiveCatalog(thriftMetastore("thrift://hive-metastore:9083"), "http://minio:9000", "${ENV:MINIO_ROOT_USER}", "${ENV:MINIO_ROOT_PASSWORD}"))
	docker := parseProperties(string(dockerFile(t, "trino/catalog/hive.properties")))
	compareSettings(t, "trino hive catalog", native, docker, nil, nil)
}

func TestDockerTrinoIcebergCatalogMatchesLauncher(t *testing.T) {
	native := parseProperties(icebergCatalog(icebergThriftMetastore("thrift://hive-metastore:9083"), "http://minio:9000", "${ENV:MINIO_ROOT_USER}", "${ENV:MINIO_ROOT_PASSWORD}"))
	docker := parseProperties(string(dockerFile(t, "trino/catalog/iceberg.properties")))
	compareSettings(t, "trino iceberg catalog", native, docker, nil, nil)
}

func TestDockerMetastoreMatchesLauncher(t *testing.T) {
	native := map[string]string{}
	for _, p := range metastoreProps(9083, "/db", bucket, "http://minio:9000", "KEY", "SECRET") {
		native[p[0]] = p[1]
	}
	var site struct {
		Properties []struct {
			Name  string `xml:"name"`
			Value string `xml:"value"`
		} `xml:"property"`
	}
	if err := xml.Unmarshal(dockerFile(t, "hive/metastore-site.xml"), &site); err != nil {
		t.Fatalf("parse docker/hive/metastore-site.xml: %v", err)
	}
	docker := map[string]string{}
	for _, p := range site.Properties {
		docker[p.Name] = p.Value
	}
	compareSettings(t, "metastore-site.xml", native, docker,
		map[string]string{
			"fs.s3a.aws.credentials.provider": "compose passes MinIO's keys as AWS_* variables, not in a file",
		},
		map[string]string{
			"metastore.thrift.bind.host":            "a container listens on all its interfaces",
			"javax.jdo.option.ConnectionURL":        "Derby natively; compose's PostgreSQL comes through SERVICE_OPTS",
			"javax.jdo.option.ConnectionDriverName": "Derby natively; compose's PostgreSQL comes through SERVICE_OPTS",
			"fs.s3a.access.key":                     "compose passes MinIO's keys as AWS_* variables, not in a file",
			"fs.s3a.secret.key":                     "compose passes MinIO's keys as AWS_* variables, not in a file",
		})
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(dockerFile(t, "compose.yml"), &c); err != nil {
		t.Fatalf("parse docker/compose.yml: %v", err)
	}
	return c
}

// kafkaEnvProperty is the apache/kafka image's mapping of KAFKA_* variables
// to server properties: ___ is -, __ is _, _ is a dot.
func kafkaEnvProperty(env string) string {
	s := strings.ToLower(strings.TrimPrefix(env, "KAFKA_"))
	s = strings.ReplaceAll(s, "___", "\x00")
	s = strings.ReplaceAll(s, "__", "\x01")
	s = strings.ReplaceAll(s, "_", ".")
	return strings.NewReplacer("\x00", "-", "\x01", "_").Replace(s)
}

func TestDockerKafkaMatchesLauncher(t *testing.T) {
	native := parseProperties(strings.Join(kafkaProps("kafka:9092", "kafka:9093", "/var/lib/kafka/data"), "\n"))
	docker := map[string]string{}
	for k, v := range readCompose(t).Services["kafka"].Environment {
		if strings.HasPrefix(k, "KAFKA_") {
			docker[kafkaEnvProperty(k)] = v
		}
	}
	hostListener := "compose adds a HOST listener for clients outside the compose network"
	compareSettings(t, "kafka", native, docker, map[string]string{
		"listeners":                      hostListener,
		"advertised.listeners":           hostListener,
		"listener.security.protocol.map": hostListener,
	}, nil)
}

func TestDockerVersionsMatchLauncher(t *testing.T) {
	c := readCompose(t)
	for service, want := range map[string]string{
		"kafka":          "apache/kafka:" + KafkaVersion,
		"trino":          "trinodb/trino:" + TrinoVersion,
		"hive-metastore": "silt-hive-metastore:" + HiveVersion,
	} {
		if got := c.Services[service].Image; got != want {
			t.Errorf("compose %s image %q, want %q (versions.go)", service, got, want)
		}
	}
	// MinIO is the one deliberate difference: the launcher builds a newer
	// commit from source, and MinIO publishes no image of it (the community
	// edition is source-only since October 2025). The header says so.
	if got, want := c.Services["minio"].Image, "quay.io/minio/minio:"+MinIODockerRelease; got != want {
		t.Errorf("compose minio image %q, want %q (versions.go MinIODockerRelease)", got, want)
	}
	if got, want := c.Services["create-bucket"].Image, "quay.io/minio/mc:"+MinIOClientDockerRelease; got != want {
		t.Errorf("compose create-bucket image %q, want %q (versions.go MinIOClientDockerRelease)", got, want)
	}
	header := string(dockerFile(t, "compose.yml"))
	header = header[:strings.Index(header, "\nname:")]
	for _, want := range []string{MinIODockerRelease, MinIOVersion} {
		if !strings.Contains(header, want) {
			t.Errorf("docker/compose.yml's header does not name %q: it must state how its MinIO differs from the launcher's", want)
		}
	}

	hive := string(dockerFile(t, "hive/Dockerfile"))
	for _, want := range []string{
		"FROM apache/hive:" + HiveVersion + "\n",
		"ARG HADOOP_VERSION=" + HadoopVersion + "\n",
		mavenDependencyPlugin("copy") + " ",
	} {
		if !strings.Contains(hive, want) {
			t.Errorf("docker/hive/Dockerfile lacks %q (versions.go)", strings.TrimSpace(want))
		}
	}
	// The SDK bundle linked into the metastore is the one hadoop-aws was
	// built against, which the launcher's Maven resolution also fetches.
	// That resolution needs the network, so the unit tier checks it only
	// when the jars are cached; TestDockerAWSSDKMatchesLauncherIntegration
	// installs them and always checks.
	cache, err := DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if !checkAWSSDK(t, hmsLibs(cache)) {
		t.Logf("AWS SDK version not checked here: no metastore jars in %s yet (the integration tier checks it)", hmsLibs(cache))
	}
}

// checkAWSSDK compares docker/hive/Dockerfile's AWS_SDK_VERSION with the
// SDK bundle among the launcher's metastore jars in libs. It reports
// whether it could check (libs holds the metastore's jars).
func checkAWSSDK(t *testing.T, libs string) bool {
	t.Helper()
	m := regexp.MustCompile(`ARG AWS_SDK_VERSION=(\S+)`).FindStringSubmatch(string(dockerFile(t, "hive/Dockerfile")))
	if m == nil {
		t.Error("docker/hive/Dockerfile has no AWS_SDK_VERSION")
		return true
	}
	if !fileExists(filepath.Join(filepath.Dir(libs), ".complete")) {
		return false
	}
	jars, _ := filepath.Glob(filepath.Join(libs, "aws-java-sdk-bundle-*.jar"))
	var names []string
	for _, j := range jars {
		names = append(names, filepath.Base(j))
	}
	if want := fmt.Sprintf("aws-java-sdk-bundle-%s.jar", m[1]); len(names) != 1 || names[0] != want {
		t.Errorf("launcher's metastore jars in %s have %v, docker/hive/Dockerfile links %s", libs, names, want)
	}
	return true
}
