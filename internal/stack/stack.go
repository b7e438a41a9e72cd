// Package stack installs, starts, health-checks and stops the real services
// silt works with — MinIO, a KRaft Kafka broker and Trino with a hive
// catalog on MinIO — as native processes on free loopback ports, for the
// integration tests and for `silt stack` on machines without Docker.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Endpoints is how a client reaches a running stack.
type Endpoints struct {
	// Secure marks a stack started with Options.Secure: every service
	// speaks TLS from the stack's CA and authenticates its clients.
	Secure bool `json:"secure,omitempty"`

	S3Endpoint  string `json:"s3_endpoint"` // host:port, path-style; https on a secure stack
	S3AccessKey string `json:"s3_access_key"`
	S3SecretKey string `json:"s3_secret_key"`
	S3Bucket    string `json:"s3_bucket"`
	S3Region    string `json:"s3_region"`

	// KafkaBrokers are the client listeners: PLAINTEXT, or on a secure
	// stack the SASL_SSL ones (KafkaSASLBrokers).
	KafkaBrokers []string `json:"kafka_brokers"`

	// TrinoURL is a trino-go-client DSN without a password, e.g.
	// http://silt@127.0.0.1:PORT (https on a secure stack).
	TrinoURL string `json:"trino_url"`
	// TrinoServer is the coordinator's address, for the CLI's --server.
	TrinoServer string `json:"trino_server"`
	// TrinoCatalog is the hive catalog on MinIO.
	TrinoCatalog string `json:"trino_catalog"`
	// TrinoSchemaLocation is the bucket as the hive connector sees it: s3://lake/.
	TrinoSchemaLocation string `json:"trino_schema_location"`
	// TrinoCLI is the argv prefix of the trino CLI, server and user already
	// set: append "--catalog", "hive", "--execute", "SELECT ...". Run it
	// with TrinoCLIEnv added to the environment (TrinoCommand does).
	TrinoCLI []string `json:"trino_cli"`
	// TrinoCLIEnv is what the CLI needs in its environment: on a secure
	// stack TRINO_PASSWORD, which the CLI's --password reads.
	TrinoCLIEnv []string `json:"trino_cli_env,omitempty"`

	// The rest is set on a secure stack only.

	// CAFile and CAKeyFile are the stack's CA (PEM); every server
	// certificate of the stack is signed by it.
	CAFile    string `json:"ca_file,omitempty"`
	CAKeyFile string `json:"ca_key_file,omitempty"`
	// KafkaSASLBrokers is the SASL_SSL listener: SCRAM-SHA-512,
	// SCRAM-SHA-256 and PLAIN.
	KafkaSASLBrokers []string `json:"kafka_sasl_brokers,omitempty"`
	// KafkaMTLSBrokers is the SSL listener that requires a client
	// certificate (ClientCertFile).
	KafkaMTLSBrokers []string `json:"kafka_mtls_brokers,omitempty"`
	// KafkaSCRAMUser and KafkaSCRAMPassword are valid for SCRAM-SHA-512
	// and SCRAM-SHA-256, KafkaPlainUser and KafkaPlainPassword for PLAIN.
	KafkaSCRAMUser     string `json:"kafka_scram_user,omitempty"`
	KafkaSCRAMPassword string `json:"kafka_scram_password,omitempty"`
	KafkaPlainUser     string `json:"kafka_plain_user,omitempty"`
	KafkaPlainPassword string `json:"kafka_plain_password,omitempty"`
	// ClientCertFile and ClientKeyFile are a client certificate (CN
	// silt-client) the CA signed, for mTLS; ExpiredClientCertFile and
	// ExpiredClientKeyFile one that expired, for negative tests.
	ClientCertFile        string `json:"client_cert_file,omitempty"`
	ClientKeyFile         string `json:"client_key_file,omitempty"`
	ExpiredClientCertFile string `json:"expired_client_cert_file,omitempty"`
	ExpiredClientKeyFile  string `json:"expired_client_key_file,omitempty"`
	// S3CAFile is the CA MinIO's certificate chains to (CAFile).
	S3CAFile string `json:"s3_ca_file,omitempty"`
	// S3KMSKeyID is MinIO's KMS key, for SSE-KMS; SSE-S3 uses it too.
	S3KMSKeyID string `json:"s3_kms_key_id,omitempty"`
	// TrinoUser and TrinoPassword log in to Trino (PASSWORD
	// authentication, over https only).
	TrinoUser     string `json:"trino_user,omitempty"`
	TrinoPassword string `json:"trino_password,omitempty"`
	// TrinoJWT is a bearer token Trino accepts for TrinoUser (JWT
	// authentication, RS256), valid for 24 hours from the stack's start.
	// TrinoJWTKeyFile is the private key (PKCS#8 PEM) that signed it, to
	// mint others (MintTrinoJWT with TrinoJWTClaims): Trino verifies with
	// its public half and requires iss TrinoJWTIssuer and aud
	// TrinoJWTAudience.
	TrinoJWT        string `json:"trino_jwt,omitempty"`
	TrinoJWTKeyFile string `json:"trino_jwt_key_file,omitempty"`

	// MetastoreURI and TrinoMetastoreCatalog are set when the stack runs a
	// standalone Hive Metastore (Options.Metastore): a second hive catalog
	// over Thrift, on the same bucket.
	MetastoreURI          string `json:"metastore_uri,omitempty"`
	TrinoMetastoreCatalog string `json:"trino_metastore_catalog,omitempty"`

	// TrinoIcebergCatalog is an Iceberg catalog on MinIO (Trino's file
	// metastore, in the bucket); TrinoMetastoreIcebergCatalog one on the
	// Hive Metastore, set with MetastoreURI.
	TrinoIcebergCatalog          string `json:"trino_iceberg_catalog,omitempty"`
	TrinoMetastoreIcebergCatalog string `json:"trino_metastore_iceberg_catalog,omitempty"`
}

// Env is the environment that points silt at this stack. On a secure
// stack: Kafka over SASL_SSL with SCRAM-SHA-512, MinIO and Trino over
// https with the stack's CA, Trino with a password.
func (e *Endpoints) Env() []string {
	if e.Secure {
		return e.secureEnv(false)
	}
	return []string{
		"SILT_KAFKA_BROKERS=" + strings.Join(e.KafkaBrokers, ","),
		"SILT_LAKE_KIND=s3",
		"SILT_S3_ENDPOINT=" + e.S3Endpoint,
		"SILT_S3_BUCKET=" + e.S3Bucket,
		"SILT_S3_REGION=" + e.S3Region,
		"SILT_S3_ACCESS_KEY=" + e.S3AccessKey,
		"SILT_S3_SECRET_KEY=" + e.S3SecretKey,
		"SILT_S3_SECURE=false",
		"SILT_S3_PATH_STYLE=true",
		"SILT_CATALOG_KIND=trino",
		"SILT_TRINO_URL=" + e.TrinoURL,
		"SILT_TRINO_CATALOG=" + e.TrinoCatalog,
	}
}

// EnvMTLS is Env of a secure stack with Kafka reached over its mTLS
// listener with the client certificate instead of SASL. A plain stack has
// no such listener: EnvMTLS is then Env.
func (e *Endpoints) EnvMTLS() []string {
	if !e.Secure {
		return e.Env()
	}
	return e.secureEnv(true)
}

func (e *Endpoints) secureEnv(mtls bool) []string {
	var env []string
	if mtls {
		env = []string{
			"SILT_KAFKA_BROKERS=" + strings.Join(e.KafkaMTLSBrokers, ","),
			"SILT_KAFKA_TLS_ENABLED=true",
			"SILT_KAFKA_TLS_CA_FILE=" + e.CAFile,
			"SILT_KAFKA_TLS_CERT_FILE=" + e.ClientCertFile,
			"SILT_KAFKA_TLS_KEY_FILE=" + e.ClientKeyFile,
		}
	} else {
		env = []string{
			"SILT_KAFKA_BROKERS=" + strings.Join(e.KafkaSASLBrokers, ","),
			"SILT_KAFKA_TLS_ENABLED=true",
			"SILT_KAFKA_TLS_CA_FILE=" + e.CAFile,
			"SILT_KAFKA_SASL_MECHANISM=scram-sha-512",
			"SILT_KAFKA_SASL_USERNAME=" + e.KafkaSCRAMUser,
			"SILT_KAFKA_SASL_PASSWORD=" + e.KafkaSCRAMPassword,
		}
	}
	return append(env,
		"SILT_LAKE_KIND=s3",
		"SILT_S3_ENDPOINT="+e.S3Endpoint,
		"SILT_S3_BUCKET="+e.S3Bucket,
		"SILT_S3_REGION="+e.S3Region,
		"SILT_S3_ACCESS_KEY="+e.S3AccessKey,
		"SILT_S3_SECRET_KEY="+e.S3SecretKey,
		"SILT_S3_SECURE=true",
		"SILT_S3_CA_FILE="+e.S3CAFile,
		"SILT_S3_PATH_STYLE=true",
		"SILT_CATALOG_KIND=trino",
		"SILT_TRINO_URL="+e.TrinoURL,
		"SILT_TRINO_CATALOG="+e.TrinoCatalog,
		"SILT_TRINO_USER="+e.TrinoUser,
		"SILT_TRINO_PASSWORD="+e.TrinoPassword,
		"SILT_TRINO_CA_FILE="+e.CAFile,
	)
}

// TrinoCommand is the trino CLI against this stack with args appended
// (e.g. "--execute", "SELECT 1"), its environment this process's plus
// TrinoCLIEnv.
func (e *Endpoints) TrinoCommand(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string{}, e.TrinoCLI...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if len(e.TrinoCLIEnv) > 0 {
		cmd.Env = append(os.Environ(), e.TrinoCLIEnv...)
	}
	return cmd
}

// Options configure Up. The zero value starts a stack owned by this
// process, in a temp dir, with installs in the default cache.
type Options struct {
	// CacheDir holds installs; empty means DefaultCacheDir.
	CacheDir string
	// StateFile, when set, receives the JSON state so another process can
	// attach to the stack or stop it.
	StateFile string
	// Detach lets the services outlive this process (silt stack up).
	// Otherwise the kernel kills them when this process dies.
	Detach bool
	// Metastore also starts a standalone Hive Metastore (Derby) and gives
	// Trino a second catalog, hive_hms, over Thrift. Off by default: it
	// adds ~420 MB of jars and a JVM. With Secure its S3A reaches MinIO
	// over https with the stack's CA and SSE-KMS; its Thrift port stays
	// plain on 127.0.0.1 (see hmsService.start).
	Metastore bool
	// Secure starts the secured variant (see secure.go): TLS from a CA
	// generated into the run directory, Kafka over SASL_SSL and mTLS,
	// MinIO over https with a KMS key, Trino over https with passwords
	// and JWTs (RS256, key pair in the run directory).
	// It has its own run directory and ports, so it runs beside a plain
	// stack; give it its own StateFile too.
	Secure bool
	// Progress receives install and start progress; nil means os.Stderr.
	Progress io.Writer
}

// State is what the state file holds.
type State struct {
	// Dir is the run directory (data, configs, logs); Down removes it.
	Dir       string     `json:"dir"`
	Started   time.Time  `json:"started"`
	Processes []*Process `json:"processes"`
	Endpoints Endpoints  `json:"endpoints"`
}

// Stack is a running set of services.
type Stack struct {
	state     State
	stateFile string
}

const (
	hmsCatalog = "hive_hms"
	// icebergCatalogName and hmsIcebergCatalog are the Iceberg catalogs
	// on the file metastore and, with Options.Metastore, on the HMS.
	icebergCatalogName = "iceberg"
	hmsIcebergCatalog  = "iceberg_hms"
	bucket             = "lake"
	region             = "us-east-1"
)

// Up installs what is missing and starts MinIO, Kafka and Trino in
// parallel, returning once every one answers real requests. On error
// nothing is left running.
func Up(ctx context.Context, o Options) (st *Stack, err error) {
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.CacheDir == "" {
		if o.CacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	prefix := "silt-stack-"
	if o.Secure {
		prefix = "silt-stack-secure-"
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("create stack dir: %w", err)
	}
	st = &Stack{state: State{Dir: dir, Started: time.Now().UTC()}, stateFile: o.StateFile}
	defer func() {
		if err != nil {
			_ = st.Down(context.WithoutCancel(ctx))
			st = nil
		}
	}()
	l, err := newLaunch(o, dir, st)
	if err != nil {
		return st, err
	}
	if err := l.run(ctx); err != nil {
		return st, err
	}
	st.state.Endpoints = l.endpoints()
	if o.StateFile != "" {
		if err := writeState(o.StateFile, &st.state); err != nil {
			return st, err
		}
	}
	l.in.say("stack up in %s (dir %s)", since(l.start), dir)
	return st, nil
}

// launch is one stack coming up: the services, and what they share while
// they install and start in parallel.
type launch struct {
	o     Options
	in    *installer
	dir   string
	sec   *security // nil: a plain stack
	start time.Time

	mu sync.Mutex // guards st.state.Processes
	st *Stack

	minio    *minioService
	kafka    *kafkaService
	trino    *trinoService
	hms      *hmsService       // nil without Options.Metastore
	catalogs map[string]string // Trino's catalogs: name -> properties
	// s3up and hmsUp are closed once the bucket exists and the metastore
	// answers (at once without one): Trino's catalogs need both.
	s3up, hmsUp chan struct{}
}

func newLaunch(o Options, dir string, st *Stack) (*launch, error) {
	l := &launch{
		o: o, in: &installer{cache: o.CacheDir, progress: o.Progress}, dir: dir, start: time.Now(), st: st,
		s3up: make(chan struct{}), hmsUp: make(chan struct{}),
	}
	var err error
	if o.Secure {
		if l.sec, err = newSecurity(dir); err != nil {
			return nil, err
		}
	}
	if l.minio, err = newMinIO(dir, l.sec); err != nil {
		return nil, err
	}
	m := l.minio
	l.catalogs = map[string]string{
		"hive":             hiveCatalog(fileMetastore(bucket), m.url(), m.user, m.password),
		icebergCatalogName: icebergCatalog(icebergFileMetastore(bucket), m.url(), m.user, m.password),
	}
	if o.Metastore {
		if l.hms, err = newHMS(dir, l.sec); err != nil {
			return nil, err
		}
		l.catalogs[hmsCatalog] = hiveCatalog(thriftMetastore(l.hms.uri()), m.url(), m.user, m.password)
		l.catalogs[hmsIcebergCatalog] = icebergCatalog(append(icebergThriftMetastore(l.hms.uri()), icebergNoHMSLocks), m.url(), m.user, m.password)
	} else {
		close(l.hmsUp)
	}
	if l.sec != nil {
		for name, body := range l.catalogs {
			l.catalogs[name] = body + strings.Join(trinoSSEKMS(kmsKeyID), "\n") + "\n"
		}
	}
	return l, nil
}

// run brings every service up in parallel; one failing cancels the
// others' installs and health checks.
func (l *launch) run(ctx context.Context) error {
	services := []struct {
		name string
		up   func(context.Context) error
	}{{"minio", l.upMinIO}, {"kafka", l.upKafka}, {"trino", l.upTrino}}
	if l.hms != nil {
		services = append(services, struct {
			name string
			up   func(context.Context) error
		}{"metastore", l.upMetastore})
	}
	errs := make([]error, len(services))
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range services {
		g.Go(func() error {
			if err := s.up(gctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s.name, err)
			}
			return errs[i]
		})
	}
	if err := g.Wait(); err != nil {
		// After the first failure the others fail with "canceled": noise.
		causes := []error{err}
		for _, e := range errs {
			if e != nil && e != err && !errors.Is(e, context.Canceled) {
				causes = append(causes, e)
			}
		}
		return fmt.Errorf("start stack: %w", errors.Join(causes...))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("start stack: %w", ctx.Err())
	}
	return nil
}

// track records a started process, so Down stops it.
func (l *launch) track(p *Process) {
	l.mu.Lock()
	l.st.state.Processes = append(l.st.state.Processes, p)
	l.mu.Unlock()
}

func (l *launch) upMinIO(ctx context.Context) error {
	if err := l.in.installMinIO(ctx); err != nil {
		return err
	}
	if err := l.minio.start(l.o.CacheDir, l.o.Detach); err != nil {
		return err
	}
	l.track(l.minio.proc)
	if err := l.minio.ready(ctx, bucket, region); err != nil {
		return err
	}
	l.in.say("minio ready at %s after %s", l.minio.url(), since(l.start))
	close(l.s3up)
	return nil
}

func (l *launch) upKafka(ctx context.Context) error {
	if err := l.in.installKafka(ctx); err != nil {
		return err
	}
	java, err := l.in.findJava(ctx, KafkaMinJava)
	if err != nil {
		return err
	}
	if l.kafka, err = newKafka(l.dir, java, l.sec); err != nil {
		return err
	}
	if err := l.kafka.start(ctx, l.o.CacheDir, l.o.Detach); err != nil {
		return err
	}
	l.track(l.kafka.proc)
	if err := l.kafka.ready(ctx); err != nil {
		return err
	}
	l.in.say("kafka ready at %s after %s", l.kafka.broker(), since(l.start))
	return nil
}

func (l *launch) upMetastore(ctx context.Context) error {
	if err := l.in.installHMS(ctx); err != nil {
		return err
	}
	java, err := l.in.findJava(ctx, HiveMinJava)
	if err != nil {
		return err
	}
	l.hms.java = java
	m := l.minio
	if err := l.hms.start(l.o.CacheDir, m.url(), m.user, m.password, bucket, l.o.Detach); err != nil {
		return err
	}
	l.track(l.hms.proc)
	if err := l.hms.ready(ctx); err != nil {
		return err
	}
	l.in.say("metastore ready at %s after %s", l.hms.uri(), since(l.start))
	close(l.hmsUp)
	return nil
}

// upTrino starts Trino at once, but checks its catalogs only once the
// bucket and the metastore behind them are up.
func (l *launch) upTrino(ctx context.Context) error {
	if err := l.in.installTrino(ctx); err != nil {
		return err
	}
	if err := l.in.installTrinoIceberg(ctx); err != nil {
		return err
	}
	java, err := l.in.findJava(ctx, TrinoMinJava)
	if err != nil {
		return err
	}
	if l.trino, err = newTrino(l.dir, java, l.sec); err != nil {
		return err
	}
	if err := l.trino.start(l.o.CacheDir, l.catalogs, l.o.Detach); err != nil {
		return err
	}
	l.track(l.trino.proc)
	if err := l.trino.started(ctx); err != nil {
		return err
	}
	for _, up := range []chan struct{}{l.s3up, l.hmsUp} {
		select {
		case <-up:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	names := []string{"hive", icebergCatalogName}
	if l.hms != nil {
		names = append(names, hmsCatalog, hmsIcebergCatalog)
	}
	if err := l.trino.queryable(ctx, names...); err != nil {
		return err
	}
	l.in.say("trino ready at %s after %s", l.trino.serverURL(), since(l.start))
	return nil
}

// endpoints are how clients reach the stack once every service is up.
func (l *launch) endpoints() Endpoints {
	minio, kafka, trino, sec := l.minio, l.kafka, l.trino, l.sec
	cli := []string{trino.java, "--enable-native-access=ALL-UNNAMED", "-Dorg.jline.terminal.dumb=true", "-jar", trinoCLIJar(l.o.CacheDir), "--server", trino.serverURL(), "--user", siltUser}
	if sec != nil {
		// The CLI takes a PEM trust store; --password reads TRINO_PASSWORD.
		cli = append(cli, "--truststore-path", sec.certs.CA, "--password")
	}
	e := Endpoints{
		S3Endpoint: minio.endpoint(), S3AccessKey: minio.user, S3SecretKey: minio.password,
		S3Bucket: bucket, S3Region: region,
		KafkaBrokers: []string{kafka.broker()},
		TrinoURL:     trino.dsn(), TrinoServer: trino.serverURL(),
		TrinoCatalog: "hive", TrinoIcebergCatalog: icebergCatalogName, TrinoSchemaLocation: "s3://" + bucket + "/",
		TrinoCLI: cli,
	}
	if sec != nil {
		e.Secure = true
		e.CAFile, e.CAKeyFile = sec.certs.CA, sec.certs.CAKey
		e.KafkaSASLBrokers = []string{kafka.broker()}
		e.KafkaMTLSBrokers = []string{kafka.mtlsBroker()}
		e.KafkaSCRAMUser, e.KafkaSCRAMPassword = siltUser, sec.kafkaPassword
		e.KafkaPlainUser, e.KafkaPlainPassword = siltUser, sec.kafkaPassword
		e.ClientCertFile, e.ClientKeyFile = sec.certs.ClientCert, sec.certs.ClientKey
		e.ExpiredClientCertFile, e.ExpiredClientKeyFile = sec.certs.ExpiredClientCert, sec.certs.ExpiredClientKey
		e.S3CAFile, e.S3KMSKeyID = sec.certs.CA, kmsKeyID
		e.TrinoUser, e.TrinoPassword = siltUser, sec.trinoPassword
		e.TrinoJWT, e.TrinoJWTKeyFile = sec.jwt.token, sec.jwt.keyFile
		e.TrinoCLIEnv = []string{"TRINO_PASSWORD=" + sec.trinoPassword}
	}
	if l.hms != nil {
		e.MetastoreURI = l.hms.uri()
		e.TrinoMetastoreCatalog = hmsCatalog
		e.TrinoMetastoreIcebergCatalog = hmsIcebergCatalog
	}
	return e
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// Endpoints of the running stack.
func (s *Stack) Endpoints() *Endpoints { e := s.state.Endpoints; return &e }

// State is a copy of what the state file records.
func (s *Stack) State() State { return s.state }

// Down stops every process group (SIGTERM, then SIGKILL after a grace
// period) and removes the run directory and the state file. The run
// directory goes even when a process could not be stopped; the state file
// then stays, so that silt stack down can try again.
func (s *Stack) Down(ctx context.Context) error {
	// Every process is stopped, whatever the others do: the group waits,
	// and each stop's error is kept in its own slot.
	stops := make([]error, len(s.state.Processes))
	var g errgroup.Group
	for i, p := range s.state.Processes {
		g.Go(func() error {
			stops[i] = p.stop(ctx, 15*time.Second)
			return nil
		})
	}
	_ = g.Wait() // the stops' errors are in stops
	var errs []error
	stopped := errors.Join(stops...) == nil
	if !stopped {
		errs = []error{fmt.Errorf("stop stack: %w", errors.Join(stops...))}
	}
	if s.state.Dir != "" && strings.Contains(filepath.Base(s.state.Dir), "silt-stack-") {
		if err := os.RemoveAll(s.state.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove stack dir: %w", err))
		}
	}
	if s.stateFile != "" && stopped {
		if err := os.Remove(s.stateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove state file: %w", err))
		}
	}
	return errors.Join(errs...)
}
