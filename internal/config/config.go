// Package config loads silt.yaml: defaults first, then the file (strictly:
// an unknown key is an error), then SILT_* environment overrides, then
// validation whose errors name the key and the fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EmbeddedBroker is where `silt run` without a config serves its in-process
// Kafka broker, so `silt ingest` and `silt gen` without a config find it.
const EmbeddedBroker = "127.0.0.1:19092"

// Config is the whole of silt.yaml. Every leaf key can be overridden by the
// environment variable named in its env tag.
type Config struct {
	// Embedded is true when kafka.brokers asks for the in-process broker
	// (see Kafka.UsesEmbeddedBroker): `silt run` then starts it, and the
	// demo generator. Brokers given anywhere, in the file or the
	// environment, turn it off. It is never read from YAML.
	Embedded bool `yaml:"-"`
	// Demo is the embedded broker without a config file: `silt run` then
	// also serves the collector and, unless SILT_GEN_ENABLED=false,
	// generates synthetic events (gen.enabled is on there by default).
	Demo bool `yaml:"-"`

	Kafka   Kafka   `yaml:"kafka"`
	Lake    Lake    `yaml:"lake"`
	Ingest  Ingest  `yaml:"ingest"`
	Catalog Catalog `yaml:"catalog"`
	Reports Reports `yaml:"reports"`
	// Scheduler holds what applies to every job; the jobs themselves are Jobs.
	Scheduler Scheduler `yaml:"scheduler"`
	Jobs      []Job     `yaml:"jobs"`
	HTTP      HTTP      `yaml:"http"`
	Collect   Collect   `yaml:"collect"`
	Gen       Gen       `yaml:"gen"`
	Ship      Ship      `yaml:"ship"`
	Log       Log       `yaml:"log"`
}

type Kafka struct {
	Brokers        []string `yaml:"brokers" env:"SILT_KAFKA_BROKERS"`
	Topics         []string `yaml:"topics" env:"SILT_KAFKA_TOPICS"`
	Group          string   `yaml:"group" env:"SILT_KAFKA_GROUP"`
	SessionTimeout Duration `yaml:"session_timeout" env:"SILT_KAFKA_SESSION_TIMEOUT"`
	// InstanceID enables static group membership: a restarted process with
	// the same ID takes its partitions back at once, without a rebalance
	// or waiting out the dead process's session. Unique per process.
	InstanceID string `yaml:"instance_id" env:"SILT_KAFKA_INSTANCE_ID"`
	// CreateTopics makes silt create missing topics (with Partitions
	// partitions) before it produces or consumes; existing ones are untouched.
	CreateTopics bool  `yaml:"create_topics" env:"SILT_KAFKA_CREATE_TOPICS"`
	Partitions   int32 `yaml:"partitions" env:"SILT_KAFKA_PARTITIONS"`
	// Acks is what the collector and generator wait for: "all", "leader" or "none".
	Acks string `yaml:"acks" env:"SILT_KAFKA_ACKS"`
	// TLS and SASL secure every Kafka client silt makes (ingest, collector,
	// gen, topic admin, lag reads).
	TLS  TLS       `yaml:"tls"`
	SASL KafkaSASL `yaml:"sasl"`
}

// EmbeddedBrokers is the kafka.brokers value that asks for silt's
// in-process demo broker, as `silt run` without any brokers configured does.
const EmbeddedBrokers = "embedded"

// UsesEmbeddedBroker is true when kafka.brokers names no real Kafka: the
// one value "embedded", or nothing at all without a config file.
func (k Kafka) UsesEmbeddedBroker() bool {
	return len(k.Brokers) == 1 && k.Brokers[0] == EmbeddedBrokers
}

// TLS is a client's TLS: a private CA, a client certificate for mTLS.
type TLS struct {
	Enabled bool `yaml:"enabled" env:"SILT_KAFKA_TLS_ENABLED"`
	// CAFile is a PEM bundle trusted instead of the system roots.
	CAFile string `yaml:"ca_file" env:"SILT_KAFKA_TLS_CA_FILE"`
	// CertFile and KeyFile are the client certificate and key (mTLS).
	CertFile string `yaml:"cert_file" env:"SILT_KAFKA_TLS_CERT_FILE"`
	KeyFile  string `yaml:"key_file" env:"SILT_KAFKA_TLS_KEY_FILE"`
	// InsecureSkipVerify trusts any server certificate: tests only; silt
	// warns loudly at start-up.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" env:"SILT_KAFKA_TLS_INSECURE_SKIP_VERIFY"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name" env:"SILT_KAFKA_TLS_SERVER_NAME"`
}

// KafkaSASL authenticates to Kafka through franz-go's own sasl packages.
type KafkaSASL struct {
	// Mechanism is empty (none), plain, scram-sha-256, scram-sha-512,
	// aws-msk-iam or oauthbearer.
	Mechanism    string `yaml:"mechanism" env:"SILT_KAFKA_SASL_MECHANISM"`
	Username     string `yaml:"username" env:"SILT_KAFKA_SASL_USERNAME"`
	Password     string `yaml:"password" env:"SILT_KAFKA_SASL_PASSWORD" secret:"true"`
	PasswordFile string `yaml:"password_file" env:"SILT_KAFKA_SASL_PASSWORD_FILE" secretfile:"Password"`
	// TokenFile holds the OAUTHBEARER token; it is read again whenever it
	// changes, so a sidecar can rotate it.
	TokenFile string `yaml:"token_file" env:"SILT_KAFKA_SASL_TOKEN_FILE"`
	// aws-msk-iam takes its credentials from the same chain as lake.s3
	// (static keys, environment, shared file, web identity, metadata) and
	// its region from the broker's host name (or AWS_REGION).
}

type Lake struct {
	// Kind is "local" (a directory) or "s3" (MinIO or any S3).
	Kind string `yaml:"kind" env:"SILT_LAKE_KIND"`
	// Root is the directory of a local lake.
	Root string `yaml:"root" env:"SILT_LAKE_ROOT"`
	// Layout names the partition directories: dt_hour
	// (dt=YYYY-MM-DD/hour=HH) or year_month_day_hour
	// (year=YYYY/month=MM/day=DD/hour=HH). A lake keeps the layout it
	// was first written in (_silt/layout.json).
	Layout string `yaml:"layout" env:"SILT_LAKE_LAYOUT"`
	S3     S3     `yaml:"s3"`
}

type S3 struct {
	Endpoint string `yaml:"endpoint" env:"SILT_S3_ENDPOINT"`
	Bucket   string `yaml:"bucket" env:"SILT_S3_BUCKET"`
	Prefix   string `yaml:"prefix" env:"SILT_S3_PREFIX"`
	Region   string `yaml:"region" env:"SILT_S3_REGION"`
	// AccessKey and SecretKey are static keys. When they are empty the
	// credential chain is tried in order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
	// the shared credentials file (Profile), web identity
	// (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), then container and
	// instance metadata.
	AccessKey     string `yaml:"access_key" env:"SILT_S3_ACCESS_KEY" secret:"true"`
	AccessKeyFile string `yaml:"access_key_file" env:"SILT_S3_ACCESS_KEY_FILE" secretfile:"AccessKey"`
	SecretKey     string `yaml:"secret_key" env:"SILT_S3_SECRET_KEY" secret:"true"`
	SecretKeyFile string `yaml:"secret_key_file" env:"SILT_S3_SECRET_KEY_FILE" secretfile:"SecretKey"`
	// SessionToken goes with temporary static keys.
	SessionToken     string `yaml:"session_token" env:"SILT_S3_SESSION_TOKEN" secret:"true"`
	SessionTokenFile string `yaml:"session_token_file" env:"SILT_S3_SESSION_TOKEN_FILE" secretfile:"SessionToken"`
	// Profile is the shared credentials file's profile (default: AWS_PROFILE, or default).
	Profile string `yaml:"profile" env:"SILT_S3_PROFILE"`
	// STSEndpoint is where web identity tokens are exchanged (default: AWS STS).
	STSEndpoint string `yaml:"sts_endpoint" env:"SILT_S3_STS_ENDPOINT"`
	Secure      bool   `yaml:"secure" env:"SILT_S3_SECURE"`
	// CAFile is a PEM bundle trusted for https besides the system roots.
	CAFile    string `yaml:"ca_file" env:"SILT_S3_CA_FILE"`
	PathStyle bool   `yaml:"path_style" env:"SILT_S3_PATH_STYLE"`
	// SSE is server-side encryption of every object silt writes: empty
	// (the bucket's default), s3 (SSE-S3) or kms (SSE-KMS with SSEKMSKeyID).
	SSE         string `yaml:"sse" env:"SILT_S3_SSE"`
	SSEKMSKeyID string `yaml:"sse_kms_key_id" env:"SILT_S3_SSE_KMS_KEY_ID"`
	// CreateBucket makes silt create the bucket when it is missing.
	CreateBucket bool `yaml:"create_bucket" env:"SILT_S3_CREATE_BUCKET"`
}

// LakeURI is the bucket and prefix as an s3:// URI ending in '/'.
func (s S3) LakeURI() string {
	uri := "s3://" + s.Bucket + "/"
	if p := strings.Trim(s.Prefix, "/"); p != "" {
		uri += p + "/"
	}
	return uri
}

type Ingest struct {
	EventTypeField string `yaml:"event_type_field" env:"SILT_INGEST_EVENT_TYPE_FIELD"`
	// DefaultEventType is the table of events without event_type_field
	// (it is missing or null), e.g. stock ticks on a topic of their own;
	// empty: such events go to the dead-letter table.
	DefaultEventType string `yaml:"default_event_type" env:"SILT_INGEST_DEFAULT_EVENT_TYPE"`
	TimeField        string `yaml:"time_field" env:"SILT_INGEST_TIME_FIELD"`
	// TimestampUnit is the Parquet unit of every timestamp column: "millis" or "micros".
	TimestampUnit string `yaml:"timestamp_unit" env:"SILT_INGEST_TIMESTAMP_UNIT"`

	// A batch drains up to the high watermarks seen at its start, and stops
	// earlier at any of these bounds. Ranges are planned in records when a
	// partition's first record arrives, so max_bytes holds approximately
	// (through the average record size); at max_wait (or after 1.5 s with
	// no records) a range ends where reading stopped, and the next batch
	// continues from there.
	MaxRecords int      `yaml:"max_records" env:"SILT_INGEST_MAX_RECORDS"`
	MaxBytes   Size     `yaml:"max_bytes" env:"SILT_INGEST_MAX_BYTES"`
	MaxWait    Duration `yaml:"max_wait" env:"SILT_INGEST_MAX_WAIT"`

	// TargetFileBytes bounds one Parquet object, counted in input bytes so
	// that a replay splits files at the same offsets.
	TargetFileBytes Size `yaml:"target_file_bytes" env:"SILT_INGEST_TARGET_FILE_BYTES"`
	RowGroupBytes   Size `yaml:"row_group_bytes" env:"SILT_INGEST_ROW_GROUP_BYTES"`
	// ColumnIndexes adds Parquet column indexes (each page's min, max and
	// null flag) to the files ingest, compaction and report tables write,
	// where they can skip a page; offset indexes are always written. Off
	// by default: Spark and parquet-java skip pages by them, Trino and
	// DuckDB do not, and Trino reads more per row group once a file has
	// them (README, "Parquet written by silt").
	ColumnIndexes bool `yaml:"column_indexes" env:"SILT_INGEST_COLUMN_INDEXES"`
	// MaxOpenFiles and MaxBufferedBytes bound memory however many tables and
	// partitions a batch touches: past either, the oldest open file is closed.
	// MaxBufferedBytes is what the open files hold, as the Parquet writer
	// counts it (96 MB by default: with Kafka's fetched batches, at most
	// about one fetch of each partition, and the rest of the process, a
	// live heap of up to ~150 MB at 10M events, under the 208 MB
	// memory_limit with room for the GC; README, "Benchmarks").
	MaxOpenFiles     int  `yaml:"max_open_files" env:"SILT_INGEST_MAX_OPEN_FILES"`
	MaxBufferedBytes Size `yaml:"max_buffered_bytes" env:"SILT_INGEST_MAX_BUFFERED_BYTES"`
	// MaxFileAge closes an open file by wall-clock age even when no new data arrives.
	MaxFileAge Duration `yaml:"max_file_age" env:"SILT_INGEST_MAX_FILE_AGE"`
	// MemoryLimit is the process's soft Go memory limit (GOMEMLIMIT, which
	// wins when set); 0 leaves Go's default. With it silt runs the GC
	// rarely (GOGC=400) until the heap nears the limit: fast and bounded.
	// Peak RSS is about the limit plus 80-85 MB of the binary's own pages
	// (208 MB: 289 MB at 10M events; README, "Benchmarks").
	MemoryLimit Size `yaml:"memory_limit" env:"SILT_INGEST_MEMORY_LIMIT"`
	// SpoolDir holds Parquet files while they are written, before upload.
	SpoolDir string `yaml:"spool_dir" env:"SILT_INGEST_SPOOL_DIR"`

	// Tables declares column types per event type; undeclared fields are inferred.
	Tables map[string]TableDecl `yaml:"tables"`
}

// TableDecl declares the types of an event type's columns:
// varchar, double, bigint, boolean or timestamp.
type TableDecl struct {
	Columns map[string]string `yaml:"columns"`
	// Strict sends events with undeclared fields to the dead-letter table
	// instead of inferring new columns.
	Strict bool `yaml:"strict"`
}

type Catalog struct {
	// Kind is "duckdb" (embedded) or "trino".
	Kind   string `yaml:"kind" env:"SILT_CATALOG_KIND"`
	DuckDB DuckDB `yaml:"duckdb"`
	Trino  Trino  `yaml:"trino"`
}

type DuckDB struct {
	// Path is the database file. Empty: <lake.root>/silt.duckdb for a
	// local lake, ./silt-data/silt.duckdb beside an S3 lake.
	Path string `yaml:"path" env:"SILT_DUCKDB_PATH"`
}

type Trino struct {
	// URL is a trino-go-client DSN, e.g. http://silt@127.0.0.1:8080
	URL     string `yaml:"url" env:"SILT_TRINO_URL"`
	Catalog string `yaml:"catalog" env:"SILT_TRINO_CATALOG"`
	Schema  string `yaml:"schema" env:"SILT_TRINO_SCHEMA"`
	// Location is where the lake is as the Hive connector sees it, e.g. s3://lake/
	Location string `yaml:"location" env:"SILT_TRINO_LOCATION"`
	// User, when set, replaces the DSN's user.
	User string `yaml:"user" env:"SILT_TRINO_USER"`
	// Password is for Trino's PASSWORD authenticator; Trino accepts it over https only.
	Password     string `yaml:"password" env:"SILT_TRINO_PASSWORD" secret:"true"`
	PasswordFile string `yaml:"password_file" env:"SILT_TRINO_PASSWORD_FILE" secretfile:"Password"`
	// AccessToken is a JWT (or OAuth2 access token) sent as a bearer token.
	AccessToken     string `yaml:"access_token" env:"SILT_TRINO_ACCESS_TOKEN" secret:"true"`
	AccessTokenFile string `yaml:"access_token_file" env:"SILT_TRINO_ACCESS_TOKEN_FILE" secretfile:"AccessToken"`
	// CAFile is a PEM bundle trusted for https besides the system roots.
	CAFile string `yaml:"ca_file" env:"SILT_TRINO_CA_FILE"`
	// TableFormat is "hive" (external tables over the lake's partition
	// directories) or "iceberg" (Iceberg tables silt commits to batch by
	// batch, one atomic commit per table and batch).
	TableFormat string       `yaml:"table_format" env:"SILT_TRINO_TABLE_FORMAT"`
	Iceberg     TrinoIceberg `yaml:"iceberg"`
}

// TrinoIceberg is how silt commits to the Iceberg catalog that Trino's
// catalog.trino.catalog reads (table_format: iceberg).
type TrinoIceberg struct {
	// MetastoreURI is the Hive Metastore that Trino's Iceberg catalog keeps
	// its tables in (thrift://host:9083): silt commits there directly.
	MetastoreURI string `yaml:"metastore_uri" env:"SILT_TRINO_ICEBERG_METASTORE_URI"`
	// SnapshotRetention: the retention job expires snapshots older than
	// this (and the files only they reference); --as-of reaches this far.
	SnapshotRetention Duration `yaml:"snapshot_retention" env:"SILT_TRINO_ICEBERG_SNAPSHOT_RETENTION"`
	// OrphanFileRetention: the retention job deletes files under a
	// table's location that no snapshot references once they are this
	// old; at least an hour, so a commit or OPTIMIZE in flight keeps its
	// files.
	OrphanFileRetention Duration `yaml:"orphan_file_retention" env:"SILT_TRINO_ICEBERG_ORPHAN_FILE_RETENTION"`
}

type Reports struct {
	// Dir holds extra .sql report files besides the built-in ones.
	Dir string `yaml:"dir" env:"SILT_REPORTS_DIR"`
	// Out is the directory scheduled reports are written to. Empty: the
	// reports directory of a local lake (<lake.root>/reports), or
	// ./silt-data/reports beside an S3 lake.
	Out    string `yaml:"out" env:"SILT_REPORTS_OUT"`
	Alerts Alerts `yaml:"alerts"`
}

type Alerts struct {
	// Webhook is secret: chat webhooks carry their token in the URL.
	Webhook     string `yaml:"webhook" env:"SILT_ALERT_WEBHOOK" secret:"true"`
	WebhookFile string `yaml:"webhook_file" env:"SILT_ALERT_WEBHOOK_FILE" secretfile:"Webhook"`
	SMTP        SMTP   `yaml:"smtp"`
}

type SMTP struct {
	Addr     string   `yaml:"addr" env:"SILT_SMTP_ADDR"`
	From     string   `yaml:"from" env:"SILT_SMTP_FROM"`
	To       []string `yaml:"to" env:"SILT_SMTP_TO"`
	Username string   `yaml:"username" env:"SILT_SMTP_USERNAME"`
	Password string   `yaml:"password" env:"SILT_SMTP_PASSWORD" secret:"true"`
	// PasswordFile is the Docker/Kubernetes secret form of Password.
	PasswordFile string `yaml:"password_file" env:"SILT_SMTP_PASSWORD_FILE" secretfile:"Password"`
}

// Scheduler configures how job schedules are read.
type Scheduler struct {
	// Timezone is the IANA zone (e.g. Europe/Paris, or Local for the
	// machine's) in which cron schedules are evaluated, unless a schedule
	// starts with its own CRON_TZ=Area/City. @every ignores zones.
	Timezone string `yaml:"timezone" env:"SILT_SCHEDULER_TIMEZONE"`
	// LeaseTTL is how long a cluster-wide job's lease lasts unless renewed
	// (every third of it, while the job runs): how long the next slot waits
	// after a process died holding it, and the clock skew between processes
	// sharing a lake that leases tolerate.
	LeaseTTL Duration `yaml:"lease_ttl" env:"SILT_SCHEDULER_LEASE_TTL"`
}

// Location is the loaded Timezone; Validate has checked that it loads.
func (s Scheduler) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("scheduler.timezone: %q: %w (use an IANA zone name like UTC or Europe/Paris)", s.Timezone, err)
	}
	return loc, nil
}

// defaultReportsOut and defaultDuckDBPath are reports.out and
// catalog.duckdb.path beside a lake that has no local root.
const (
	defaultReportsOut = "./silt-data/reports"
	defaultDuckDBPath = "./silt-data/silt.duckdb"
)

// placeBesideLake fills reports.out and catalog.duckdb.path when they are
// unset: reports and the DuckDB catalog sit with the data they describe,
// so moving lake.root moves them too, unless their own keys say otherwise.
func (c *Config) placeBesideLake() {
	localRoot := c.Lake.Kind == "local" && c.Lake.Root != ""
	if c.Reports.Out == "" {
		c.Reports.Out = defaultReportsOut
		if localRoot {
			c.Reports.Out = filepath.Join(c.Lake.Root, "reports")
		}
	}
	if c.Catalog.DuckDB.Path == "" {
		c.Catalog.DuckDB.Path = defaultDuckDBPath
		if localRoot {
			c.Catalog.DuckDB.Path = filepath.Join(c.Lake.Root, "silt.duckdb")
		}
	}
}

// Job is one scheduled job.
type Job struct {
	Name string `yaml:"name"`
	// Kind is ingest, register, report, compact or retention.
	Kind     string `yaml:"kind"`
	Schedule string `yaml:"schedule"`
	// After chains this job to run when the named job succeeds.
	After string `yaml:"after"`
	// Report names the report of a report job.
	Report string            `yaml:"report"`
	Params map[string]string `yaml:"params"`
	// Overlap is "skip" (default: a run due while the last still runs is
	// skipped and counted) or "queue" (one run waits).
	Overlap    string   `yaml:"overlap"`
	Retries    int      `yaml:"retries"`
	RetryDelay Duration `yaml:"retry_delay"`
	Catchup    bool     `yaml:"catchup"`
	// On is when a report job writes its CSV (and sends its alert):
	// "always" (the default) or "alert", only on runs where the report's
	// alert condition holds for some row.
	On string `yaml:"on"`
	// Retention is how long partitions are kept, for retention jobs.
	Retention Duration `yaml:"retention"`
	// Watermark, Publish and Table are for report jobs: emit only the
	// windows the event-time watermark closed; also send the rows to a
	// Kafka topic; also store them in a lake table (see report_sinks.go).
	Watermark *ReportWatermark `yaml:"watermark"`
	Publish   *ReportPublish   `yaml:"publish"`
	Table     *ReportTable     `yaml:"table"`
}

type HTTP struct {
	// Listen is the status page, /metrics, /healthz and the API; empty disables it.
	Listen string `yaml:"listen" env:"SILT_HTTP_LISTEN"`
}

type Collect struct {
	Listen        string   `yaml:"listen" env:"SILT_COLLECT_LISTEN"`
	Topic         string   `yaml:"topic" env:"SILT_COLLECT_TOPIC"`
	MaxBodyBytes  Size     `yaml:"max_body_bytes" env:"SILT_COLLECT_MAX_BODY_BYTES"`
	MaxEventBytes Size     `yaml:"max_event_bytes" env:"SILT_COLLECT_MAX_EVENT_BYTES"`
	Headers       []string `yaml:"headers" env:"SILT_COLLECT_HEADERS"`
	// PostPaths are the paths that take POSTed events (a JSON object,
	// an array of them, or NDJSON).
	PostPaths []string `yaml:"post_paths" env:"SILT_COLLECT_POST_PATHS"`
	// Routes map a GET path to the event type each request records.
	Routes map[string]string `yaml:"routes"`
	// Responses give a GET route its own answer once Kafka has its event
	// (default: 202 with {"accepted":1}); failures still answer the JSON
	// error with its status.
	Responses   map[string]RouteResponse `yaml:"responses"`
	Token       string                   `yaml:"token" env:"SILT_COLLECT_TOKEN" secret:"true"`
	TokenFile   string                   `yaml:"token_file" env:"SILT_COLLECT_TOKEN_FILE" secretfile:"Token"`
	MaxBuffered int                      `yaml:"max_buffered" env:"SILT_COLLECT_MAX_BUFFERED"`
}

// RouteResponse is what a GET route answers on success.
type RouteResponse struct {
	// Status is a 2xx status code.
	Status int    `yaml:"status"`
	Body   string `yaml:"body"`
	// ContentType defaults to text/plain; charset=utf-8.
	ContentType string `yaml:"content_type"`
}

type Gen struct {
	// Enabled makes `silt run` generate synthetic events into its own
	// topic (the first of kafka.topics). Off by default with a config
	// file; on in the no-config demo. gen.rate 0 sends nothing.
	Enabled    bool     `yaml:"enabled" env:"SILT_GEN_ENABLED"`
	Rate       float64  `yaml:"rate" env:"SILT_GEN_RATE"`
	Hosts      []string `yaml:"hosts" env:"SILT_GEN_HOSTS"`
	EventTypes []string `yaml:"event_types" env:"SILT_GEN_EVENT_TYPES"`
}

// Ship is `silt ship`: log files followed and published to Kafka, a
// JSON event per line.
type Ship struct {
	// Paths are globs, re-evaluated while shipping so new files are found.
	Paths []string `yaml:"paths" env:"SILT_SHIP_PATHS"`
	// Pattern is a regular expression whose named groups become fields.
	Pattern string `yaml:"pattern" env:"SILT_SHIP_PATTERN"`
	// TimeField is the group holding the line's time, parsed with
	// TimeLayout (a Go layout, e.g. 15:04:05.000).
	TimeField  string `yaml:"time_field" env:"SILT_SHIP_TIME_FIELD"`
	TimeLayout string `yaml:"time_layout" env:"SILT_SHIP_TIME_LAYOUT"`
	// Date (YYYY-MM-DD) dates lines that carry only a time; empty: each
	// file's modification date. Past midnight the date moves on.
	Date string `yaml:"date" env:"SILT_SHIP_DATE"`
	// Timezone is where the log's times are (IANA name; default UTC).
	Timezone  string `yaml:"timezone" env:"SILT_SHIP_TIMEZONE"`
	EventType string `yaml:"event_type" env:"SILT_SHIP_EVENT_TYPE"`
	// Host is the host field of every event; empty: this machine's name.
	Host string `yaml:"host" env:"SILT_SHIP_HOST"`
	// StateFile keeps each file's offset, written after Kafka acknowledged.
	StateFile string `yaml:"state_file" env:"SILT_SHIP_STATE_FILE"`
	// Topic defaults to the first of kafka.topics.
	Topic string   `yaml:"topic" env:"SILT_SHIP_TOPIC"`
	Poll  Duration `yaml:"poll" env:"SILT_SHIP_POLL"`
}

type Log struct {
	Format string `yaml:"format" env:"SILT_LOG_FORMAT"`
	Level  string `yaml:"level" env:"SILT_LOG_LEVEL"`
}

// Load reads path (empty: the embedded default), applies environment
// overrides and validates.
func Load(path string) (*Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := decodeStrict(raw, cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(cfg, os.LookupEnv); err != nil {
		return nil, err
	}
	if err := readSecretFiles(cfg); err != nil {
		return nil, err
	}
	// Without a config file and without brokers anywhere, silt is the
	// embedded demo. Brokers from the environment always win.
	if path == "" && len(cfg.Kafka.Brokers) == 0 {
		cfg.Kafka.Brokers = []string{EmbeddedBrokers}
	}
	if cfg.Kafka.UsesEmbeddedBroker() {
		cfg.Embedded = true
		cfg.Demo = path == ""
		cfg.Kafka.Brokers = []string{EmbeddedBroker}
	}
	// The demo generates events unless told not to; anything else only
	// when gen.enabled asks for it.
	if _, set := os.LookupEnv("SILT_GEN_ENABLED"); cfg.Demo && !set {
		cfg.Gen.Enabled = true
	}
	if cfg.Catalog.Trino.Location == "" && cfg.Lake.Kind == "s3" {
		cfg.Catalog.Trino.Location = cfg.Lake.S3.LakeURI()
	}
	var shipErr error
	if len(cfg.Ship.Paths) > 0 {
		shipErr = cfg.ValidateShip()
	}
	if err := errors.Join(cfg.Validate(), cfg.validateCollectAndGen(), shipErr); err != nil {
		if path == "" {
			return nil, fmt.Errorf("embedded config (from environment): %w", err)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func decodeStrict(raw []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) { // an empty file means all defaults
			return nil
		}
		return fmt.Errorf("%w (check the key's spelling and indentation against silt.example.yaml)", err)
	}
	return nil
}

// Duration is a time.Duration written as "30s" or "5m" in YAML.
type Duration time.Duration

func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write it like 30s, 5m or 1h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
