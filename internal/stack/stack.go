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
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Endpoints is how a client reaches a running stack.
type Endpoints struct {
	S3Endpoint  string `json:"s3_endpoint"` // host:port, plain HTTP, path-style
	S3AccessKey string `json:"s3_access_key"`
	S3SecretKey string `json:"s3_secret_key"`
	S3Bucket    string `json:"s3_bucket"`
	S3Region    string `json:"s3_region"`

	KafkaBrokers []string `json:"kafka_brokers"`

	// TrinoURL is a trino-go-client DSN, e.g. http://silt@127.0.0.1:PORT.
	TrinoURL string `json:"trino_url"`
	// TrinoServer is the plain HTTP address, for the CLI's --server.
	TrinoServer string `json:"trino_server"`
	// TrinoCatalog is the hive catalog on MinIO.
	TrinoCatalog string `json:"trino_catalog"`
	// TrinoSchemaLocation is the bucket as the hive connector sees it: s3://lake/.
	TrinoSchemaLocation string `json:"trino_schema_location"`
	// TrinoCLI is the argv prefix of the trino CLI, server and user already
	// set: append "--catalog", "hive", "--execute", "SELECT ...".
	TrinoCLI []string `json:"trino_cli"`

	// MetastoreURI and TrinoMetastoreCatalog are set when the stack runs a
	// standalone Hive Metastore (Options.Metastore): a second hive catalog
	// over Thrift, on the same bucket.
	MetastoreURI          string `json:"metastore_uri,omitempty"`
	TrinoMetastoreCatalog string `json:"trino_metastore_catalog,omitempty"`
}

// Env is the environment that points silt at this stack.
func (e *Endpoints) Env() []string {
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
	// adds ~420 MB of jars and a JVM.
	Metastore bool
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
	bucket     = "lake"
	region     = "us-east-1"
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
	in := &installer{cache: o.CacheDir, progress: o.Progress}
	dir, err := os.MkdirTemp("", "silt-stack-")
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
	start := time.Now()

	// One failing service cancels the others' installs and health checks.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	minio, err := newMinIO(dir)
	if err != nil {
		return st, err
	}
	var (
		mu     sync.Mutex
		errs   []error
		wg     sync.WaitGroup
		kafka  *kafkaService
		trino  *trinoService
		s3up   = make(chan struct{}) // closed once the bucket exists
		failed = func(e error) {
			mu.Lock()
			// After the first failure the others fail with "canceled": noise.
			if len(errs) == 0 || !errors.Is(e, context.Canceled) {
				errs = append(errs, e)
			}
			mu.Unlock()
			cancel()
		}
		track = func(p *Process) {
			mu.Lock()
			st.state.Processes = append(st.state.Processes, p)
			mu.Unlock()
		}
	)
	catalogs := map[string]string{"hive": hiveCatalog(fileMetastore(bucket), minio.endpoint(), minio.user, minio.password)}
	var hms *hmsService
	hmsUp := make(chan struct{})
	if o.Metastore {
		if hms, err = newHMS(dir); err != nil {
			return st, err
		}
		catalogs[hmsCatalog] = hiveCatalog(thriftMetastore(hms.uri()), minio.endpoint(), minio.user, minio.password)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				if err := in.installHMS(ctx); err != nil {
					return err
				}
				java, err := in.findJava(ctx, HiveMinJava)
				if err != nil {
					return err
				}
				hms.java = java
				if err := hms.start(o.CacheDir, minio.endpoint(), minio.user, minio.password, bucket, o.Detach); err != nil {
					return err
				}
				track(hms.proc)
				if err := hms.ready(ctx); err != nil {
					return err
				}
				in.say("metastore ready at %s after %s", hms.uri(), since(start))
				close(hmsUp)
				return nil
			}()
			if err != nil {
				failed(fmt.Errorf("metastore: %w", err))
			}
		}()
	} else {
		close(hmsUp)
	}

	wg.Add(3)
	go func() {
		defer wg.Done()
		err := func() error {
			if err := in.installMinIO(ctx); err != nil {
				return err
			}
			if err := minio.start(o.CacheDir, o.Detach); err != nil {
				return err
			}
			track(minio.proc)
			if err := minio.ready(ctx, bucket, region); err != nil {
				return err
			}
			in.say("minio ready at %s after %s", minio.endpoint(), since(start))
			close(s3up)
			return nil
		}()
		if err != nil {
			failed(fmt.Errorf("minio: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		err := func() error {
			if err := in.installKafka(ctx); err != nil {
				return err
			}
			java, err := in.findJava(ctx, KafkaMinJava)
			if err != nil {
				return err
			}
			if kafka, err = newKafka(dir, java); err != nil {
				return err
			}
			if err := kafka.start(ctx, o.CacheDir, o.Detach); err != nil {
				return err
			}
			track(kafka.proc)
			if err := kafka.ready(ctx); err != nil {
				return err
			}
			in.say("kafka ready at %s after %s", kafka.broker(), since(start))
			return nil
		}()
		if err != nil {
			failed(fmt.Errorf("kafka: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		err := func() error {
			if err := in.installTrino(ctx); err != nil {
				return err
			}
			java, err := in.findJava(ctx, TrinoMinJava)
			if err != nil {
				return err
			}
			if trino, err = newTrino(dir, java); err != nil {
				return err
			}
			if err := trino.start(o.CacheDir, catalogs, o.Detach); err != nil {
				return err
			}
			track(trino.proc)
			if err := trino.started(ctx); err != nil {
				return err
			}
			for _, up := range []chan struct{}{s3up, hmsUp} {
				select {
				case <-up:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			names := []string{"hive"}
			if o.Metastore {
				names = append(names, hmsCatalog)
			}
			if err := trino.queryable(ctx, names...); err != nil {
				return err
			}
			in.say("trino ready at %s after %s", trino.httpURL(), since(start))
			return nil
		}()
		if err != nil {
			failed(fmt.Errorf("trino: %w", err))
		}
	}()
	wg.Wait()
	if len(errs) > 0 {
		return st, fmt.Errorf("start stack: %w", errors.Join(errs...))
	}
	if ctx.Err() != nil {
		return st, fmt.Errorf("start stack: %w", ctx.Err())
	}

	cli := []string{trino.java, "--enable-native-access=ALL-UNNAMED", "-Dorg.jline.terminal.dumb=true", "-jar", trinoCLIJar(o.CacheDir), "--server", trino.httpURL(), "--user", "silt"}
	st.state.Endpoints = Endpoints{
		S3Endpoint: minio.endpoint(), S3AccessKey: minio.user, S3SecretKey: minio.password,
		S3Bucket: bucket, S3Region: region,
		KafkaBrokers: []string{kafka.broker()},
		TrinoURL:     trino.dsn(), TrinoServer: trino.httpURL(),
		TrinoCatalog: "hive", TrinoSchemaLocation: "s3://" + bucket + "/",
		TrinoCLI: cli,
	}
	if hms != nil {
		st.state.Endpoints.MetastoreURI = hms.uri()
		st.state.Endpoints.TrinoMetastoreCatalog = hmsCatalog
	}
	if o.StateFile != "" {
		if err := writeState(o.StateFile, &st.state); err != nil {
			return st, err
		}
	}
	in.say("stack up in %s (dir %s)", since(start), dir)
	return st, nil
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
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range s.state.Processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(ctx, 15*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stopped := len(errs) == 0
	if !stopped {
		errs = []error{fmt.Errorf("stop stack: %w", errors.Join(errs...))}
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
