package stack

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trinodb/trino-go-client/trino" // also registers the "trino" driver
)

func trinoHome(cache string) string {
	return filepath.Join(cache, "trino-"+TrinoVersion)
}

func trinoCLIJar(cache string) string {
	return filepath.Join(cache, "dl", "trino-cli-"+TrinoVersion+"-executable.jar")
}

// installTrino fetches the server core, the hive plugin and the CLI from
// Maven Central (core + one plugin is ~450 MB against ~1.5 GB for the full
// trino-server tarball) and unpacks them into the cache.
func (in *installer) installTrino(ctx context.Context) error {
	home := trinoHome(in.cache)
	done := filepath.Join(home, ".complete")
	return in.once("trino", func() bool { return fileExists(done) && fileExists(trinoCLIJar(in.cache)) }, func() error {
		in.say("Trino %s: ~470 MB to download (server core 194 MB, hive plugin 258 MB, CLI 19 MB)", TrinoVersion)
		core, err := in.mavenFetch(ctx, "io.trino:trino-server-core:"+TrinoVersion+":tar.gz", "trino-server-core-"+TrinoVersion+".tar.gz")
		if err != nil {
			return err
		}
		hive, err := in.mavenFetch(ctx, "io.trino:trino-hive:"+TrinoVersion+":zip", "trino-hive-"+TrinoVersion+".zip")
		if err != nil {
			return err
		}
		if _, err := in.mavenFetch(ctx, "io.trino:trino-cli:"+TrinoVersion+":jar:executable", "trino-cli-"+TrinoVersion+"-executable.jar"); err != nil {
			return err
		}
		if fileExists(done) {
			return nil
		}
		in.say("unpacking Trino %s into %s", TrinoVersion, home)
		_ = os.RemoveAll(home)
		tmp := home + ".tmp"
		_ = os.RemoveAll(tmp)
		if err := untarGz(core, tmp); err != nil {
			return err
		}
		if err := unzip(hive, filepath.Join(tmp, "plugin", "hive")); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, home)
	})
}

// installTrinoIceberg adds the iceberg plugin to an installed Trino: a
// step of its own, so a cache that predates it gains the plugin without
// unpacking the server again.
func (in *installer) installTrinoIceberg(ctx context.Context) error {
	plugin := filepath.Join(trinoHome(in.cache), "plugin", "iceberg")
	done := filepath.Join(plugin, ".complete")
	return in.once("trino-iceberg", func() bool { return fileExists(done) }, func() error {
		in.say("Trino %s iceberg plugin: ~350 MB to download", TrinoVersion)
		zip, err := in.mavenFetch(ctx, "io.trino:trino-iceberg:"+TrinoVersion+":zip", "trino-iceberg-"+TrinoVersion+".zip")
		if err != nil {
			return err
		}
		tmp := plugin + ".tmp"
		_ = os.RemoveAll(tmp)
		_ = os.RemoveAll(plugin)
		if err := unzip(zip, tmp); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, plugin)
	})
}

type trinoService struct {
	// port serves http, or https only on a secure stack.
	port int
	dir  string
	java string
	sec  *security // nil: plain http, no authentication
	proc *Process
}

func newTrino(runDir, java string, sec *security) (*trinoService, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &trinoService{port: port, dir: filepath.Join(runDir, "trino"), java: java, sec: sec}, nil
}

func (t *trinoService) scheme() string {
	if t.sec != nil {
		return "https"
	}
	return "http"
}

// serverURL is the coordinator's address, for the CLI's --server.
func (t *trinoService) serverURL() string {
	return t.scheme() + "://127.0.0.1:" + strconv.Itoa(t.port)
}

// dsn is the trino-go-client DSN, without a password; the user name is
// arbitrary without auth.
func (t *trinoService) dsn() string {
	return t.scheme() + "://" + siltUser + "@127.0.0.1:" + strconv.Itoa(t.port)
}

// hiveCatalog is a hive catalog over MinIO: Trino's native S3 file system
// with path-style requests, on the metastore its metastore lines choose
// (fileMetastore or thriftMetastore). Both catalogs come from here, so the
// test stack and the docker compose stack share every other setting.
//
// s3URL is MinIO's URL with its scheme: over https (a secure stack) the
// JVM trusts the stack's CA through its default trust store.
func hiveCatalog(metastore []string, s3URL, accessKey, secretKey string) string {
	lines := append([]string{"connector.name=hive"}, metastore...)
	lines = append(lines, s3FileSystem(s3URL, accessKey, secretKey)...)
	lines = append(lines,
		"hive.non-managed-table-writes-enabled=true",
		"hive.allow-register-partition-procedure=true",
		"hive.storage-format=PARQUET",
		"hive.compression-codec=SNAPPY",
		"",
	)
	return strings.Join(lines, "\n")
}

// s3FileSystem is how every catalog reaches MinIO: Trino's native S3 file
// system with path-style requests.
func s3FileSystem(s3URL, accessKey, secretKey string) []string {
	return []string{
		"fs.native-s3.enabled=true",
		"s3.endpoint=" + s3URL,
		"s3.region=" + region,
		"s3.path-style-access=true",
		"s3.aws-access-key=" + accessKey,
		"s3.aws-secret-key=" + secretKey,
	}
}

// trinoSSEKMS is what a secure stack adds to every catalog: what Trino
// writes (a CREATE TABLE AS, OPTIMIZE's merged files, Iceberg metadata of
// its commits) is encrypted with MinIO's KMS key, as silt's objects are.
func trinoSSEKMS(keyID string) []string {
	return []string{"s3.sse.type=KMS", "s3.sse.kms-key-id=" + keyID}
}

// icebergCatalog is an Iceberg catalog over MinIO on the metastore its
// metastore lines choose (icebergFileMetastore or icebergThriftMetastore),
// beside the hive catalog and with the same S3 settings. silt commits
// files it wrote itself (add_files) and a lost catalog is rebuilt from the
// tables' metadata in the lake (register_table): both procedures are off
// unless enabled.
func icebergCatalog(metastore []string, s3URL, accessKey, secretKey string) string {
	lines := append([]string{"connector.name=iceberg"}, metastore...)
	lines = append(lines, s3FileSystem(s3URL, accessKey, secretKey)...)
	lines = append(lines,
		"iceberg.file-format=PARQUET",
		"iceberg.compression-codec=SNAPPY",
		"iceberg.add-files-procedure.enabled=true",
		"iceberg.register-table-procedure.enabled=true",
		"",
	)
	return strings.Join(lines, "\n")
}

// icebergFileMetastore keeps an Iceberg catalog's table pointers in the
// bucket, for stacks without a metastore service (Trino names this
// catalog type for testing; production uses a metastore or REST catalog).
func icebergFileMetastore(bucket string) []string {
	return []string{
		"iceberg.catalog.type=TESTING_FILE_METASTORE",
		"hive.metastore.catalog.dir=s3://" + bucket + "/_iceberg_metastore",
	}
}

// icebergThriftMetastore points an Iceberg catalog at the Thrift Hive
// Metastore: the configuration the docker compose stack uses.
func icebergThriftMetastore(uri string) []string {
	return []string{"iceberg.catalog.type=hive_metastore", "hive.metastore.uri=" + uri}
}

// icebergNoHMSLocks is the launcher's own line for its Iceberg catalog on
// the metastore: Trino commits without HMS locks, because the launcher's
// Derby metastore has no lock tables (DataNucleus creates no HIVE_LOCKS;
// every INSERT failed "Internal error processing lock"). HMS 4 swaps the
// metadata pointer atomically by itself (alter_table with the expected
// previous location, HIVE-26882), so Trino's commits stay safe among
// themselves; a writer that does lock (iceberg-go's Hive catalog) cannot
// run against this metastore until it has the lock tables. Compose's
// metastore has them (schematool) and keeps locking.
const icebergNoHMSLocks = "iceberg.hive-catalog.locking-enabled=false"

// fileMetastore keeps the metastore in the bucket, so tables survive only
// as long as the stack's MinIO data does.
func fileMetastore(bucket string) []string {
	return []string{
		"hive.metastore=file",
		"hive.metastore.catalog.dir=s3://" + bucket + "/_metastore",
		"hive.non-managed-table-creates-enabled=true",
	}
}

// start writes etc/ for one coordinator that is also its only worker and
// runs TrinoServer directly (bin/launcher would need Python).
func (t *trinoService) start(cache string, catalogs map[string]string, detach bool) error {
	etc := filepath.Join(t.dir, "etc")
	data := filepath.Join(t.dir, "data")
	for _, d := range []string{filepath.Join(etc, "catalog"), data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create trino dirs: %w", err)
		}
	}
	node := []string{
		"node.environment=silt",
		"node.id=silt-" + randHex(4),
		"node.data-dir=" + data,
	}
	// Sized for a 2-core, 24 GB machine shared with other work.
	jvm := []string{
		"-server",
		"-Xmx3G",
		"-XX:InitialRAMPercentage=1",
		"-XX:+UseG1GC",
		"-XX:G1HeapRegionSize=32M",
		"-XX:+ExplicitGCInvokesConcurrent",
		"-XX:+ExitOnOutOfMemoryError",
		"-XX:-OmitStackTraceInFastThrow",
		"-XX:ReservedCodeCacheSize=256M",
		"-XX:PerMethodRecompilationCutoff=10000",
		"-XX:PerBytecodeRecompilationCutoff=10000",
		"-XX:+EnableDynamicAgentLoading",
		"-XX:ActiveProcessorCount=2",
		"-Djdk.attach.allowAttachSelf=true",
		"-Djdk.nio.maxCachedBufferSize=2000000",
		"-Dfile.encoding=UTF-8",
	}
	config := []string{
		"coordinator=true",
		"node-scheduler.include-coordinator=true",
		"discovery.uri=" + t.serverURL(),
		"node.bind-ip=127.0.0.1",
		"node.internal-address=127.0.0.1",
		"plugin.dir=" + filepath.Join(trinoHome(cache), "plugin"),
		"catalog.config-dir=" + filepath.Join(etc, "catalog"),
		"query.max-memory=1GB",
		"query.max-memory-per-node=1GB",
		"task.concurrency=2",
	}
	files := map[string]string{
		"node.properties": strings.Join(node, "\n") + "\n",
		"log.properties":  "io.trino=INFO\n",
	}
	if t.sec == nil {
		config = append(config, "http-server.http.port="+strconv.Itoa(t.port))
	} else {
		secConfig, secFiles, err := t.secureConfig(etc)
		if err != nil {
			return err
		}
		config = append(config, secConfig...)
		maps.Copy(files, secFiles)
		// The JVM's own TLS clients (the hive connector's S3 file system
		// to MinIO) trust the stack's CA, and only it.
		jvm = append(jvm, jvmTrustStore(t.sec)...)
	}
	files["jvm.config"] = strings.Join(jvm, "\n") + "\n"
	files["config.properties"] = strings.Join(config, "\n") + "\n"
	for name, body := range catalogs {
		files["catalog/"+name+".properties"] = body
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), 0o600); err != nil {
			return fmt.Errorf("write trino %s: %w", name, err)
		}
	}
	args := append([]string{}, jvm...)
	for _, p := range node {
		args = append(args, "-D"+p)
	}
	args = append(args,
		"-Dconfig="+filepath.Join(etc, "config.properties"),
		"-Dlog.levels-file="+filepath.Join(etc, "log.properties"),
		"-cp", filepath.Join(trinoHome(cache), "lib", "*"),
		"io.trino.server.TrinoServer")
	cmd := exec.Command(t.java, args...)
	cmd.Dir = t.dir
	var err error
	t.proc, err = startProcess("trino", cmd, filepath.Join(t.dir, "trino.log"), detach)
	return err
}

// secureConfig is what a secure stack adds to config.properties, and the
// files it names: https only, PASSWORD authentication from a file, and
// JWT (when the stack has a JWT key, as newSecurity makes it): a bearer
// token signed with the stack's key (RS256, verified with the public key
// PEM), from issuer TrinoJWTIssuer for audience TrinoJWTAudience, its sub
// the user. Trino tries the password first and the token next; a request
// with neither, or with a bad one, gets 401.
//
// Plain http is off altogether (http-server.http.enabled=false): a single
// coordinator-and-worker talks to itself (discovery, task updates) over
// https too, internal-communication.https.required=true, trusting the
// stack's CA (internal-communication.https.truststore.path; with it set
// Trino does not generate its own internal certificates) and
// authenticating with the shared secret.
func (t *trinoService) secureConfig(etc string) (config []string, files map[string]string, err error) {
	users, err := trinoPasswordFile(map[string]string{siltUser: t.sec.trinoPassword})
	if err != nil {
		return nil, nil, err
	}
	passwordFile := filepath.Join(etc, "password.db")
	authConfig := filepath.Join(etc, "password-authenticator.properties")
	files = map[string]string{
		"password.db": users,
		"password-authenticator.properties": strings.Join([]string{
			"password-authenticator.name=file",
			"file.password-file=" + passwordFile,
		}, "\n") + "\n",
	}
	config = []string{
		"http-server.http.enabled=false",
		"http-server.https.enabled=true",
		"http-server.https.port=" + strconv.Itoa(t.port),
		// Trino reads a PEM file holding the key and the certificate.
		"http-server.https.keystore.path=" + t.sec.certs.ServerPEM,
		"http-server.authentication.allow-insecure-over-http=false",
		"password-authenticator.config-files=" + authConfig,
		"internal-communication.shared-secret=" + t.sec.trinoSharedSecret,
		"internal-communication.https.required=true",
		"internal-communication.https.truststore.path=" + t.sec.certs.CA,
	}
	if t.sec.jwt == nil {
		return append(config, "http-server.authentication.type=PASSWORD"), files, nil
	}
	config = append(config,
		"http-server.authentication.type=PASSWORD,JWT",
		"http-server.authentication.jwt.key-file="+t.sec.jwt.pubFile,
		"http-server.authentication.jwt.required-issuer="+TrinoJWTIssuer,
		"http-server.authentication.jwt.required-audience="+TrinoJWTAudience,
	)
	return config, files, nil
}

// httpClient is how the launcher reaches Trino: trusting the CA of a
// secure stack.
func (t *trinoService) httpClient() *http.Client {
	if t.sec != nil {
		return httpsClient(t.sec.client)
	}
	return http.DefaultClient
}

// started waits until /v1/info (public, no authentication) reports the
// server has finished starting.
func (t *trinoService) started(ctx context.Context) error {
	url := t.serverURL() + "/v1/info"
	client := t.httpClient()
	return poll(ctx, t.proc, "startup", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var info struct {
			Starting bool `json:"starting"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		if info.Starting {
			return fmt.Errorf("trino is still starting")
		}
		return nil
	})
}

// queryable runs SELECT 1 and lists the hive catalog's schemas, which reads
// the file metastore on MinIO: the whole path the tests use. On a secure
// stack it also runs SELECT 1 with the stack's JWT instead of the
// password.
func (t *trinoService) queryable(ctx context.Context, catalogs ...string) error {
	dsn, jwtDSN := t.dsn(), ""
	if t.sec != nil {
		// Over https as silt with its password, through a client that
		// trusts the CA, registered under a name of its own.
		name := "silt-stack-" + randHex(8)
		if err := trino.RegisterCustomClient(name, t.httpClient()); err != nil {
			return err
		}
		defer trino.DeregisterCustomClient(name)
		dsn = fmt.Sprintf("https://%s:%s@127.0.0.1:%d?custom_client=%s", siltUser, t.sec.trinoPassword, t.port, name)
		if t.sec.jwt != nil {
			jwtDSN = fmt.Sprintf("https://%s@127.0.0.1:%d?custom_client=%s&accessToken=%s", siltUser, t.port, name, t.sec.jwt.token)
		}
	}
	db, err := sql.Open("trino", dsn)
	if err != nil {
		return fmt.Errorf("open trino client: %w", err)
	}
	defer db.Close()
	var jwtDB *sql.DB
	if jwtDSN != "" {
		if jwtDB, err = sql.Open("trino", jwtDSN); err != nil {
			return fmt.Errorf("open trino client: %w", err)
		}
		defer jwtDB.Close()
	}
	return poll(ctx, t.proc, "queries", func(ctx context.Context) error {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return fmt.Errorf("SELECT 1: %w", err)
		}
		if jwtDB != nil {
			if err := jwtDB.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				return fmt.Errorf("SELECT 1 with the JWT: %w", err)
			}
		}
		for _, c := range catalogs {
			rows, err := db.QueryContext(ctx, "SHOW SCHEMAS FROM "+c)
			if err != nil {
				return fmt.Errorf("SHOW SCHEMAS FROM %s: %w", c, err)
			}
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return fmt.Errorf("SHOW SCHEMAS FROM %s: %w", c, err)
			}
		}
		return nil
	})
}
