package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/ident"
)

// ColumnTypes are the types a table declaration may use.
var ColumnTypes = map[string]bool{"varchar": true, "double": true, "bigint": true, "boolean": true, "timestamp": true}

// JobKinds are the kinds of scheduled job.
var JobKinds = map[string]bool{"ingest": true, "register": true, "report": true, "compact": true, "retention": true}

// Validate fills what is derived from other keys (see placeBesideLake),
// then checks the whole config and reports every problem at once, each
// naming its key and how to fix it.
func (c *Config) Validate() error {
	c.placeBesideLake()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.validateKafka(bad)
	c.validateLake(bad)
	c.validateIngest(bad)
	c.validateCatalog(bad)
	c.validateScheduler(bad)
	c.validateJobs(bad)
	c.validateLog(bad)
	return errors.Join(errs...)
}

// badKey records what is wrong with one key: the key, then the problem
// and the fix.
type badKey func(key, format string, args ...any)

// validateKafka checks the kafka keys.
func (c *Config) validateKafka(bad badKey) {
	if !c.Embedded && len(c.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "no brokers: list host:port addresses, or set SILT_KAFKA_BROKERS=host:9092")
	}
	for _, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("kafka.brokers", "%q is not host:port", b)
		}
	}
	if len(c.Kafka.Topics) == 0 {
		bad("kafka.topics", "no topics: name at least one topic to drain")
	}
	if c.Kafka.Group == "" {
		bad("kafka.group", "empty: set a consumer group name, e.g. silt")
	}
	if c.Kafka.SessionTimeout.Std() < 6*time.Second {
		bad("kafka.session_timeout", "%s is below Kafka's minimum of 6s", c.Kafka.SessionTimeout)
	}
	if c.Kafka.CreateTopics && c.Kafka.Partitions < 1 {
		bad("kafka.partitions", "%d: topics silt creates need at least 1 partition (or set kafka.create_topics: false)", c.Kafka.Partitions)
	}
	switch c.Kafka.Acks {
	case "all", "leader", "none":
	default:
		bad("kafka.acks", "%q: use all, leader or none", c.Kafka.Acks)
	}
	c.validateKafkaSecurity(bad)
}

// validateLake checks the lake keys.
func (c *Config) validateLake(bad badKey) {
	switch c.Lake.Layout {
	case "dt_hour", "year_month_day_hour": // lake.Layouts' names
	default:
		bad("lake.layout", "%q: use dt_hour (dt=YYYY-MM-DD/hour=HH, the default) or year_month_day_hour (year=YYYY/month=MM/day=DD/hour=HH)", c.Lake.Layout)
	}
	switch c.Lake.Kind {
	case "local":
		if c.Lake.Root == "" {
			bad("lake.root", "empty: set the lake directory, e.g. ./silt-data")
		}
	case "s3":
		s := c.Lake.S3
		if s.Endpoint == "" {
			bad("lake.s3.endpoint", "empty: set host:port of MinIO or S3, or SILT_S3_ENDPOINT")
		} else if strings.Contains(s.Endpoint, "://") {
			bad("lake.s3.endpoint", "%q has a scheme: write host:port and set lake.s3.secure for https", s.Endpoint)
		}
		if s.Bucket == "" {
			bad("lake.s3.bucket", "empty: set the bucket name, or SILT_S3_BUCKET")
		}
		if (s.AccessKey == "") != (s.SecretKey == "") {
			bad("lake.s3.access_key", "static keys need both halves: set SILT_S3_ACCESS_KEY and SILT_S3_SECRET_KEY, or neither to use the AWS credential chain")
		}
		if s.CAFile != "" && !s.Secure {
			bad("lake.s3.ca_file", "set, but lake.s3.secure is false: a CA is only used over https (set SILT_S3_SECURE=true)")
		}
		checkReadable(bad, "lake.s3.ca_file", s.CAFile)
		switch s.SSE {
		case "", "s3":
			if s.SSEKMSKeyID != "" {
				bad("lake.s3.sse_kms_key_id", "set, but lake.s3.sse is %q: set lake.s3.sse: kms", s.SSE)
			}
		case "kms":
			if s.SSEKMSKeyID == "" {
				bad("lake.s3.sse_kms_key_id", "empty: SSE-KMS needs the key id (SILT_S3_SSE_KMS_KEY_ID)")
			}
		default:
			bad("lake.s3.sse", "%q: use s3 or kms, or leave it empty for the bucket's default", s.SSE)
		}
	default:
		bad("lake.kind", "%q: use local or s3", c.Lake.Kind)
	}
}

// validateIngest checks the ingest keys.
func (c *Config) validateIngest(bad badKey) {
	in := c.Ingest
	if in.EventTypeField == "" {
		bad("ingest.event_type_field", "empty: name the JSON field holding the event type, e.g. event_type")
	}
	switch in.TimestampUnit {
	case "millis", "micros":
	default:
		bad("ingest.timestamp_unit", "%q: use millis or micros (nanos and INT96 are unreadable by several engines)", in.TimestampUnit)
	}
	if in.MaxRecords <= 0 {
		bad("ingest.max_records", "must be positive")
	}
	if in.MaxBytes <= 0 {
		bad("ingest.max_bytes", "must be positive")
	}
	if in.MaxWait.Std() <= 0 {
		bad("ingest.max_wait", "must be positive, e.g. 30s")
	}
	if in.TargetFileBytes < 1<<10 {
		bad("ingest.target_file_bytes", "%d is too small: use at least 1KB (64MB-256MB suits query engines)", in.TargetFileBytes)
	}
	if in.RowGroupBytes < 1<<10 || in.RowGroupBytes > 128<<20 {
		bad("ingest.row_group_bytes", "%d: use 1KB to 128MB", in.RowGroupBytes)
	}
	if in.MaxOpenFiles < 1 {
		bad("ingest.max_open_files", "must be at least 1")
	}
	if in.MaxBufferedBytes < in.RowGroupBytes {
		bad("ingest.max_buffered_bytes", "%d is below ingest.row_group_bytes (%d): raise it", in.MaxBufferedBytes, in.RowGroupBytes)
	}
	if in.MaxFileAge.Std() <= 0 {
		bad("ingest.max_file_age", "must be positive, e.g. 1m")
	}
	for table, decl := range in.Tables {
		if !ident.Valid(table) {
			bad("ingest.tables."+table, "not a table name: use [a-z][a-z0-9_]{0,62}")
		}
		for col, typ := range decl.Columns {
			if !ident.Valid(col) {
				bad("ingest.tables."+table+".columns."+col, "not a column name: use [a-z][a-z0-9_]{0,62} (User-Agent is written user_agent)")
			}
			if !ColumnTypes[typ] {
				bad("ingest.tables."+table+".columns."+col, "type %q: use varchar, double, bigint, boolean or timestamp", typ)
			}
		}
	}
}

// validateCatalog checks the catalog keys.
func (c *Config) validateCatalog(bad badKey) {
	switch c.Catalog.Kind {
	case "duckdb":
		if c.Catalog.DuckDB.Path == "" {
			bad("catalog.duckdb.path", "empty: set the DuckDB database file, e.g. ./silt-data/silt.duckdb")
		}
	case "trino":
		t := c.Catalog.Trino
		if u, err := url.Parse(t.URL); err != nil || u.Host == "" {
			// Not echoed: a DSN may hold a password.
			bad("catalog.trino.url", "not a URL: write it like http://silt@127.0.0.1:8080 or https://trino:8443, or set SILT_TRINO_URL")
		}
		if u, err := url.Parse(t.URL); err == nil && u.Scheme != "https" {
			if t.Password != "" || t.AccessToken != "" {
				bad("catalog.trino.url", "%s://: Trino accepts a password or token over https only: write https://%s", u.Scheme, u.Host)
			}
			if t.CAFile != "" {
				bad("catalog.trino.ca_file", "set, but catalog.trino.url is not https")
			}
		}
		if t.Password != "" && t.AccessToken != "" {
			bad("catalog.trino.password", "both a password and an access token are set: keep one")
		}
		checkReadable(bad, "catalog.trino.ca_file", t.CAFile)
		if !ident.Valid(t.Catalog) {
			bad("catalog.trino.catalog", "%q: name the Hive catalog, e.g. hive", t.Catalog)
		}
		if !ident.Valid(t.Schema) {
			bad("catalog.trino.schema", "%q: name the schema tables go in, e.g. events", t.Schema)
		}
		if t.Location == "" {
			bad("catalog.trino.location", "empty: where Trino sees the lake, e.g. s3://lake/")
		} else if c.Lake.Kind == "s3" && schemeless(t.Location) != schemeless(c.Lake.S3.LakeURI()) {
			// Partitions registered under another prefix read as empty.
			bad("catalog.trino.location", "%q is not the lake (%s): leave it empty to derive it from lake.s3.bucket and prefix", t.Location, c.Lake.S3.LakeURI())
		}
		c.validateTableFormat(bad)
	default:
		bad("catalog.kind", "%q: use duckdb or trino", c.Catalog.Kind)
	}
}

// validateTableFormat checks catalog.trino.table_format and, for Iceberg,
// what silt needs to commit: the metastore, an S3 lake (Iceberg data files
// are addressed by URI; Trino and other readers reach them there) and
// microsecond timestamps (Iceberg's timestamp type; the spec allows no
// other unit in data files).
func (c *Config) validateTableFormat(bad badKey) {
	t := c.Catalog.Trino
	switch t.TableFormat {
	case "hive":
		if t.Iceberg.MetastoreURI != "" {
			bad("catalog.trino.iceberg.metastore_uri", "set, but catalog.trino.table_format is hive: set table_format: iceberg or remove it")
		}
	case "iceberg":
		if u, err := url.Parse(t.Iceberg.MetastoreURI); err != nil || u.Scheme != "thrift" || u.Port() == "" {
			bad("catalog.trino.iceberg.metastore_uri", "%q: name the Hive Metastore of Trino's Iceberg catalog, e.g. thrift://127.0.0.1:9083 (or set SILT_TRINO_ICEBERG_METASTORE_URI)", t.Iceberg.MetastoreURI)
		}
		if c.Lake.Kind != "s3" {
			bad("catalog.trino.table_format", "iceberg needs lake.kind: s3 (the lake is %q): Iceberg tables name their data files by S3 URI", c.Lake.Kind)
		}
		if c.Ingest.TimestampUnit != "micros" {
			bad("ingest.timestamp_unit", "%q, but catalog.trino.table_format is iceberg, whose timestamps are microseconds: set timestamp_unit: micros", c.Ingest.TimestampUnit)
		}
		if t.Iceberg.SnapshotRetention.Std() < time.Minute {
			bad("catalog.trino.iceberg.snapshot_retention", "%s: keep snapshots at least a minute (time travel reaches this far back), e.g. 168h", t.Iceberg.SnapshotRetention.Std())
		}
		// Files under a table's location that no snapshot references yet
		// include those of a commit or OPTIMIZE in flight: an hour is far
		// beyond either.
		if t.Iceberg.OrphanFileRetention.Std() < time.Hour {
			bad("catalog.trino.iceberg.orphan_file_retention", "%s: at least 1h, so files of a commit or OPTIMIZE still in flight are never taken for orphans, e.g. 168h", t.Iceberg.OrphanFileRetention.Std())
		}
	default:
		bad("catalog.trino.table_format", "%q: use hive or iceberg (or set SILT_TRINO_TABLE_FORMAT)", t.TableFormat)
	}
}

// validateScheduler checks the scheduler keys.
func (c *Config) validateScheduler(bad badKey) {
	if _, err := time.LoadLocation(c.Scheduler.Timezone); err != nil {
		bad("scheduler.timezone", "%q: %v: use an IANA zone name like UTC or Europe/Paris (or set SILT_SCHEDULER_TIMEZONE)", c.Scheduler.Timezone, err)
	}
	if ttl := c.Scheduler.LeaseTTL.Std(); ttl < 3*time.Second || ttl > time.Hour {
		bad("scheduler.lease_ttl", "%s: use a duration from 3s to 1h, e.g. 60s (renewed every third of it while a job runs)", c.Scheduler.LeaseTTL)
	}
}

// validateJobs checks every job, and that each job an after names exists.
func (c *Config) validateJobs(bad badKey) {
	names := map[string]bool{}
	for i, j := range c.Jobs {
		key := fmt.Sprintf("jobs[%d]", i)
		if j.Name == "" {
			bad(key+".name", "empty: every job needs a name")
		} else if names[j.Name] {
			bad(key+".name", "%q is used twice", j.Name)
		}
		names[j.Name] = true
		if !JobKinds[j.Kind] {
			bad(key+".kind", "%q: use ingest, register, report, compact or retention", j.Kind)
		}
		if j.Schedule == "" && j.After == "" {
			bad(key+".schedule", "job %q has neither schedule nor after: give a cron expression or @every 30s", j.Name)
		}
		if j.Kind == "retention" && j.Retention.Std() <= 0 {
			bad(key+".retention", "job %q is a retention job without a retention period: set e.g. retention: 720h", j.Name)
		}
		if j.Kind == "report" && j.Report == "" {
			bad(key+".report", "job %q is a report job without a report name", j.Name)
		}
		switch j.Overlap {
		case "", "skip", "queue":
		default:
			bad(key+".overlap", "%q: use skip or queue", j.Overlap)
		}
		if j.Retries < 0 {
			bad(key+".retries", "must not be negative")
		}
		validateReportSinks(key, j, bad)
	}
	c.validateReportTables(bad)
	for i, j := range c.Jobs {
		if j.After != "" && !names[j.After] {
			bad(fmt.Sprintf("jobs[%d].after", i), "job %q follows %q, which is not a job", j.Name, j.After)
		}
	}
}

// validateLog checks the log keys.
func (c *Config) validateLog(bad badKey) {
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: use text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: use debug, info, warn or error", c.Log.Level)
	}
}

// schemeless drops s3:// or s3a:// and a trailing '/', so Trino's and
// Hive's spellings of one location compare equal.
func schemeless(uri string) string {
	if i := strings.Index(uri, "://"); i >= 0 {
		uri = uri[i+3:]
	}
	return strings.TrimSuffix(uri, "/")
}

// KafkaSASLMechanisms are the values kafka.sasl.mechanism takes.
var KafkaSASLMechanisms = []string{"plain", "scram-sha-256", "scram-sha-512", "aws-msk-iam", "oauthbearer"}

func (c *Config) validateKafkaSecurity(bad badKey) {
	t, s := c.Kafka.TLS, c.Kafka.SASL
	tlsKeysSet := t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify || t.ServerName != ""
	if tlsKeysSet && !t.Enabled {
		bad("kafka.tls.enabled", "false, but other kafka.tls keys are set: set kafka.tls.enabled: true (SILT_KAFKA_TLS_ENABLED=true)")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls.cert_file", "mTLS needs both kafka.tls.cert_file and kafka.tls.key_file")
	}
	for key, path := range map[string]string{"kafka.tls.ca_file": t.CAFile, "kafka.tls.cert_file": t.CertFile, "kafka.tls.key_file": t.KeyFile} {
		checkReadable(bad, key, path)
	}
	if c.Embedded && (t.Enabled || s.Mechanism != "") {
		bad("kafka.brokers", "the embedded broker speaks neither TLS nor SASL: name your brokers in kafka.brokers, or unset kafka.tls and kafka.sasl")
	}
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" {
			bad("kafka.sasl.mechanism", "empty, but a SASL username or password is set: choose one of %s", strings.Join(KafkaSASLMechanisms, ", "))
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if s.Username == "" || s.Password == "" {
			bad("kafka.sasl.username", "%s needs kafka.sasl.username and kafka.sasl.password (or SILT_KAFKA_SASL_PASSWORD_FILE)", s.Mechanism)
		}
	case "oauthbearer":
		if s.TokenFile == "" {
			bad("kafka.sasl.token_file", "oauthbearer needs the token's file (SILT_KAFKA_SASL_TOKEN_FILE); silt reads it again when it changes")
		}
		checkReadable(bad, "kafka.sasl.token_file", s.TokenFile)
	case "aws-msk-iam":
		if !t.Enabled {
			bad("kafka.tls.enabled", "aws-msk-iam runs over TLS only: set kafka.tls.enabled: true")
		}
	default:
		bad("kafka.sasl.mechanism", "%q: use one of %s", s.Mechanism, strings.Join(KafkaSASLMechanisms, ", "))
	}
}

// checkReadable reports a file key whose file cannot be read now, at
// start-up, rather than at the first connection.
func checkReadable(bad badKey, key, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		bad(key, "%v: point it at a readable file", err)
	}
}
