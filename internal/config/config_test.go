package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGoodConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yml")
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			require.NoError(t, err)
			require.False(t, cfg.Embedded)
		})
	}
	cfg, err := Load("testdata/stack.good.yml")
	require.NoError(t, err)
	require.Equal(t, []string{"kafka:9092"}, cfg.Kafka.Brokers)
	require.EqualValues(t, 64<<20, cfg.Ingest.TargetFileBytes)
	require.Equal(t, 30*time.Second, cfg.Ingest.MaxWait.Std())
	require.Equal(t, "double", cfg.Ingest.Tables["purchase_sword"].Columns["price"])
	require.Equal(t, 45*time.Second, cfg.Kafka.SessionTimeout.Std(), "unset keys keep their defaults")
	loc, err := cfg.Scheduler.Location()
	require.NoError(t, err)
	require.Equal(t, "Europe/Paris", loc.String())
}

// Every error names the key and says how to fix it.
func TestBadConfigsNameTheKeyAndTheFix(t *testing.T) {
	tests := map[string][]string{
		"unknown_key.bad.yml":  {"field grup not found", "check the key's spelling"},
		"empty.bad.yml":        {"kafka.brokers: no brokers", "SILT_KAFKA_BROKERS"},
		"bad_duration.bad.yml": {`"soon" is not a duration`, "30s"},
		"bad_values.bad.yml": {
			`kafka.brokers: "nohostport" is not host:port`,
			`lake.kind: "ftp": use local or s3`,
			`ingest.timestamp_unit: "nanos": use millis or micros`,
			"ingest.tables.Bad-Name: not a table name",
			`type "decimal": use varchar, double, bigint, boolean or timestamp`,
			"catalog.trino.url", "catalog.trino.location",
			`jobs[0].schedule: job "a" has neither schedule nor after`,
			`jobs[1].after: job "b" follows "nope", which is not a job`,
			`scheduler.timezone: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons: use an IANA zone name like UTC or Europe/Paris`,
		},
	}
	for file, wants := range tests {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", file))
			require.Error(t, err)
			for _, w := range wants {
				require.Contains(t, err.Error(), w)
			}
			require.Contains(t, err.Error(), file, "the error names the file")
		})
	}
}

func TestEnvironmentOverridesAndEmbeddedDefault(t *testing.T) {
	t.Setenv("SILT_KAFKA_BROKERS", "a:1, b:2")
	t.Setenv("SILT_INGEST_MAX_WAIT", "7s")
	t.Setenv("SILT_INGEST_TARGET_FILE_BYTES", "2MB")
	t.Setenv("SILT_S3_SECURE", "true")
	t.Setenv("SILT_S3_SECRET_KEY", "hunter2")
	cfg, err := Load("")
	require.NoError(t, err)
	require.False(t, cfg.Embedded, "brokers from the environment win over the embedded broker")
	require.False(t, cfg.Demo, "no demo generator against a real Kafka")
	require.Equal(t, []string{"a:1", "b:2"}, cfg.Kafka.Brokers)
	require.Equal(t, 7*time.Second, cfg.Ingest.MaxWait.Std())
	require.EqualValues(t, 2<<20, cfg.Ingest.TargetFileBytes)
	require.True(t, cfg.Lake.S3.Secure)

	t.Setenv("SILT_INGEST_MAX_RECORDS", "many")
	_, err = Load("")
	require.ErrorContains(t, err, "SILT_INGEST_MAX_RECORDS")
	t.Setenv("SILT_INGEST_MAX_RECORDS", "10")

	t.Setenv("SILT_S3_ACCESS_KEY", "x")
	t.Setenv("SILT_S3_SECURE", "maybe")
	_, err = Load("")
	require.ErrorContains(t, err, "SILT_S3_SECURE")
	t.Setenv("SILT_S3_SECURE", "false")

	require.NoError(t, os.Unsetenv("SILT_KAFKA_BROKERS"))
	cfg, err = Load("")
	require.NoError(t, err)
	require.Equal(t, []string{EmbeddedBroker}, cfg.Kafka.Brokers)
	require.True(t, cfg.Embedded)
	require.True(t, cfg.Demo)

	// brokers: [embedded] in a file is the embedded broker, without the generator.
	t.Setenv("SILT_KAFKA_BROKERS", "embedded")
	cfg, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\n"))
	require.NoError(t, err)
	require.True(t, cfg.Embedded)
	require.False(t, cfg.Demo, "a config file never starts the demo generator")
	require.Equal(t, []string{EmbeddedBroker}, cfg.Kafka.Brokers)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestSecretFilesFillTheirSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cr3t-from-file\n"), 0o600))
	t.Setenv("SILT_KAFKA_BROKERS", "k:9092")
	t.Setenv("SILT_KAFKA_SASL_MECHANISM", "scram-sha-512")
	t.Setenv("SILT_KAFKA_SASL_USERNAME", "silt")
	t.Setenv("SILT_KAFKA_SASL_PASSWORD_FILE", pw)
	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, "s3cr3t-from-file", cfg.Kafka.SASL.Password, "the trailing newline is dropped")
	require.Contains(t, cfg.Secrets(), "s3cr3t-from-file")

	// YAML's _file key works the same way.
	cfg, err = Load(writeConfig(t, "kafka: {brokers: [k:9092]}\ncatalog: {kind: trino, trino: {url: https://t:8443, location: s3://lake/, password_file: "+pw+"}}\n"))
	require.NoError(t, err)
	require.Equal(t, "s3cr3t-from-file", cfg.Catalog.Trino.Password)

	t.Setenv("SILT_KAFKA_SASL_PASSWORD", "also-set")
	_, err = Load("")
	require.ErrorContains(t, err, "kafka.sasl.password and kafka.sasl.password_file are both set")
	require.NotContains(t, err.Error(), "also-set")
	require.NotContains(t, err.Error(), "s3cr3t-from-file")

	require.NoError(t, os.Unsetenv("SILT_KAFKA_SASL_PASSWORD"))
	t.Setenv("SILT_KAFKA_SASL_PASSWORD_FILE", filepath.Join(dir, "missing"))
	_, err = Load("")
	require.ErrorContains(t, err, "SILT_KAFKA_SASL_PASSWORD_FILE")
}

func TestKafkaSecurityIsValidatedWithTheKeyAndTheFix(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown mechanism":   {map[string]string{"SILT_KAFKA_SASL_MECHANISM": "kerberos"}, "kafka.sasl.mechanism: \"kerberos\": use one of plain"},
		"scram without pw":    {map[string]string{"SILT_KAFKA_SASL_MECHANISM": "scram-sha-256", "SILT_KAFKA_SASL_USERNAME": "u"}, "kafka.sasl.username: scram-sha-256 needs"},
		"ca without tls":      {map[string]string{"SILT_KAFKA_TLS_CA_FILE": "/etc/hostname"}, "kafka.tls.enabled: false, but other kafka.tls keys are set"},
		"cert without key":    {map[string]string{"SILT_KAFKA_TLS_ENABLED": "true", "SILT_KAFKA_TLS_CERT_FILE": "/etc/hostname"}, "kafka.tls.cert_file: mTLS needs both"},
		"missing ca file":     {map[string]string{"SILT_KAFKA_TLS_ENABLED": "true", "SILT_KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"}, "kafka.tls.ca_file:"},
		"msk iam without tls": {map[string]string{"SILT_KAFKA_SASL_MECHANISM": "aws-msk-iam"}, "aws-msk-iam runs over TLS only"},
		"oauth without token": {map[string]string{"SILT_KAFKA_SASL_MECHANISM": "oauthbearer"}, "kafka.sasl.token_file"},
		"trino pw over http":  {map[string]string{"SILT_CATALOG_KIND": "trino", "SILT_TRINO_URL": "http://silt@t:8080", "SILT_TRINO_LOCATION": "s3://l/", "SILT_TRINO_PASSWORD": "pw"}, "catalog.trino.url: http://: Trino accepts a password or token over https only"},
		"kms without key":     {map[string]string{"SILT_LAKE_KIND": "s3", "SILT_S3_ENDPOINT": "s:9000", "SILT_S3_BUCKET": "b", "SILT_S3_SSE": "kms"}, "lake.s3.sse_kms_key_id: empty"},
		"half static keys":    {map[string]string{"SILT_LAKE_KIND": "s3", "SILT_S3_ENDPOINT": "s:9000", "SILT_S3_BUCKET": "b", "SILT_S3_ACCESS_KEY": "a"}, "lake.s3.access_key: static keys need both halves"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SILT_KAFKA_BROKERS", "k:9092")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Load("")
			require.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("embedded broker refuses TLS", func(t *testing.T) {
		t.Setenv("SILT_KAFKA_TLS_ENABLED", "true")
		_, err := Load("")
		require.ErrorContains(t, err, "the embedded broker speaks neither TLS nor SASL")
	})
}

func TestSchedulerTimezoneDefaultsToUTCAndTakesTheEnvironment(t *testing.T) {
	cfg, err := Load("")
	require.NoError(t, err)
	loc, err := cfg.Scheduler.Location()
	require.NoError(t, err)
	require.Equal(t, time.UTC, loc)

	t.Setenv("SILT_SCHEDULER_TIMEZONE", "America/New_York")
	cfg, err = Load("")
	require.NoError(t, err)
	loc, err = cfg.Scheduler.Location()
	require.NoError(t, err)
	require.Equal(t, "America/New_York", loc.String())

	t.Setenv("SILT_SCHEDULER_TIMEZONE", "New York")
	_, err = Load("")
	require.ErrorContains(t, err, `scheduler.timezone: "New York"`)
	require.ErrorContains(t, err, "SILT_SCHEDULER_TIMEZONE")
}

func TestSchedulerLeaseTTLDefaultEnvironmentAndBounds(t *testing.T) {
	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, 60*time.Second, cfg.Scheduler.LeaseTTL.Std())

	t.Setenv("SILT_SCHEDULER_LEASE_TTL", "2m")
	cfg, err = Load("")
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute, cfg.Scheduler.LeaseTTL.Std())

	for _, bad := range []string{"1s", "2h"} {
		t.Setenv("SILT_SCHEDULER_LEASE_TTL", bad)
		_, err = Load("")
		require.ErrorContains(t, err, "scheduler.lease_ttl: "+bad)
	}
}

// reports.out and catalog.duckdb.path follow lake.root for a local lake
// unless they are set.
func TestReportsAndDuckDBDefaultBesideALocalLake(t *testing.T) {
	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, filepath.Join("silt-data", "reports"), cfg.Reports.Out, "the embedded default")
	require.Equal(t, filepath.Join("silt-data", "silt.duckdb"), cfg.Catalog.DuckDB.Path, "the embedded default")

	root := t.TempDir()
	t.Setenv("SILT_LAKE_ROOT", root)
	cfg, err = Load("")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "reports"), cfg.Reports.Out)
	require.Equal(t, filepath.Join(root, "silt.duckdb"), cfg.Catalog.DuckDB.Path)

	t.Setenv("SILT_REPORTS_OUT", "/srv/reports")
	t.Setenv("SILT_DUCKDB_PATH", "/srv/catalog.duckdb")
	cfg, err = Load("")
	require.NoError(t, err)
	require.Equal(t, "/srv/reports", cfg.Reports.Out, "an explicit value wins")
	require.Equal(t, "/srv/catalog.duckdb", cfg.Catalog.DuckDB.Path, "an explicit value wins")

	require.NoError(t, os.Unsetenv("SILT_LAKE_ROOT"))
	require.NoError(t, os.Unsetenv("SILT_REPORTS_OUT"))
	require.NoError(t, os.Unsetenv("SILT_DUCKDB_PATH"))
	dir := t.TempDir()
	file := filepath.Join(dir, "silt.yaml")
	require.NoError(t, os.WriteFile(file, []byte("kafka: {brokers: [k:9092]}\nlake: {root: /data/lake}\nreports: {out: ./out}\n"), 0o644))
	cfg, err = Load(file)
	require.NoError(t, err)
	require.Equal(t, "./out", cfg.Reports.Out, "reports.out in the file wins")
	require.NoError(t, os.WriteFile(file, []byte("kafka: {brokers: [k:9092]}\nlake: {root: /data/lake}\n"), 0o644))
	cfg, err = Load(file)
	require.NoError(t, err)
	require.Equal(t, "/data/lake/reports", cfg.Reports.Out)
	require.Equal(t, "/data/lake/silt.duckdb", cfg.Catalog.DuckDB.Path)

	cfg, err = Load("testdata/stack.good.yml") // an S3 lake has no local root
	require.NoError(t, err)
	require.Equal(t, "./silt-data/reports", cfg.Reports.Out)
	require.Equal(t, "./silt-data/silt.duckdb", cfg.Catalog.DuckDB.Path)
}

// A secret that fails to parse is named by its variable, never echoed.
// Every secret is a string, so the parse error is forced through the same
// path with a non-string field marked secret (see walkEnv).
func TestSecretsAreNotEchoed(t *testing.T) {
	type withSecret struct {
		Rate int `env:"X_RATE" secret:"true"`
	}
	var v withSecret
	err := walkEnv(reflect.ValueOf(&v).Elem(), func(name string) (string, bool) { return "hunter2", name == "X_RATE" })
	require.ErrorContains(t, err, "X_RATE")
	require.NotContains(t, err.Error(), "hunter2")

	// And through Load: the secrets set are in no error it returns.
	t.Setenv("SILT_S3_SECRET_KEY", "hunter2")
	t.Setenv("SILT_COLLECT_TOKEN", "tok-xyzzy")
	t.Setenv("SILT_GEN_RATE", "fast")
	_, err = Load("")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
	require.NotContains(t, err.Error(), "tok-xyzzy")
}

// silt.example.yaml must load and name every environment variable, so the
// documentation cannot drift from the code.
func TestExampleConfigIsCompleteAndValid(t *testing.T) {
	raw, err := os.ReadFile("../../silt.example.yaml")
	require.NoError(t, err)
	cfg, err := Load("../../silt.example.yaml")
	require.NoError(t, err)
	require.Equal(t, Default().Ingest.TargetFileBytes, cfg.Ingest.TargetFileBytes)
	var missing []string
	walkTags(reflect.TypeOf(Config{}), func(env string) {
		if !strings.Contains(string(raw), env) {
			missing = append(missing, env)
		}
	})
	require.Empty(t, missing, "environment variables silt.example.yaml does not mention")
}

func walkTags(t reflect.Type, fn func(env string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if env := f.Tag.Get("env"); env != "" {
			fn(env)
		} else if f.Type.Kind() == reflect.Struct {
			walkTags(f.Type, fn)
		}
	}
}

func TestSecretsIncludeURLPasswordsAndWebhooks(t *testing.T) {
	t.Setenv("SILT_KAFKA_BROKERS", "k:9092")
	t.Setenv("SILT_CATALOG_KIND", "trino")
	t.Setenv("SILT_TRINO_URL", "https://silt:dsn-pw-1234@trino:8443")
	t.Setenv("SILT_TRINO_LOCATION", "s3://lake/")
	t.Setenv("SILT_ALERT_WEBHOOK", "https://hooks.example.com/T0/B0/tok-5678")
	cfg, err := Load("")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"dsn-pw-1234", "https://hooks.example.com/T0/B0/tok-5678"}, cfg.Secrets())
	require.Equal(t, "dial https://silt:<redacted>@trino:8443 failed; posting to <redacted>",
		cfg.Redact("dial https://silt:dsn-pw-1234@trino:8443 failed; posting to https://hooks.example.com/T0/B0/tok-5678"))
}
