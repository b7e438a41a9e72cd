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
			require.True(t, strings.Contains(err.Error(), file), "the error names the file")
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
	require.True(t, cfg.Embedded)
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

	os.Unsetenv("SILT_KAFKA_BROKERS")
	cfg, err = Load("")
	require.NoError(t, err)
	require.Equal(t, []string{EmbeddedBroker}, cfg.Kafka.Brokers)
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

	os.Unsetenv("SILT_LAKE_ROOT")
	os.Unsetenv("SILT_REPORTS_OUT")
	os.Unsetenv("SILT_DUCKDB_PATH")
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

func TestSecretsAreNotEchoed(t *testing.T) {
	t.Setenv("SILT_S3_SECRET_KEY", "hunter2")
	t.Setenv("SILT_COLLECT_TOKEN", "tok")
	t.Setenv("SILT_GEN_RATE", "fast")
	_, err := Load("")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
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
