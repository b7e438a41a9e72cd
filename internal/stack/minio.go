package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/silt-etl/silt/lake"
)

// minioBin is the cached MinIO server binary.
func minioBin(cache string) string {
	return filepath.Join(cache, "bin", minioCacheID, "minio")
}

func (in *installer) installMinIO(ctx context.Context) error {
	bin := minioBin(in.cache)
	return in.once("minio", func() bool { return fileExists(bin) }, func() error {
		gobin, err := exec.LookPath("go")
		if err != nil {
			// Only when go is not on PATH: the toolchain that built silt,
			// right on the machine that built it.
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // SA1019: a fallback, see above

		}
		in.say("building MinIO %s@%s with go install into %s (first run only, several minutes)", MinIOModule, MinIOVersion, filepath.Dir(bin))
		tmp, err := os.MkdirTemp(in.cache, ".minio-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		cmd := exec.CommandContext(ctx, gobin, "install", "-v", MinIOModule+"@"+MinIOVersion)
		// GOFLAGS from the caller (e.g. -mod=vendor) would break a module
		// install outside any module; GOTOOLCHAIN=auto lets MinIO pick its Go.
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN=auto")
		if err := in.run(ctx, cmd); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return err
		}
		return os.Rename(filepath.Join(tmp, "minio"), bin)
	})
}

type minioService struct {
	port, consolePort int
	user, password    string
	dir               string
	sec               *security // nil: plain http
	proc              *Process
}

func newMinIO(runDir string, sec *security) (*minioService, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	return &minioService{
		port: port, consolePort: console,
		user: "silt-" + randHex(4), password: randHex(16),
		dir: filepath.Join(runDir, "minio"),
		sec: sec,
	}, nil
}

func (m *minioService) endpoint() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// url is the endpoint with its scheme, as Trino's s3.endpoint takes it.
func (m *minioService) url() string {
	if m.sec != nil {
		return "https://" + m.endpoint()
	}
	return "http://" + m.endpoint()
}

// certsDir lays out MinIO's --certs-dir: public.crt and private.key are
// what it serves, CAs/ what it trusts as a client (of itself, e.g. for
// its own health and KMS calls).
func (m *minioService) certsDir() (string, error) {
	dir := filepath.Join(m.dir, "certs")
	if err := os.MkdirAll(filepath.Join(dir, "CAs"), 0o700); err != nil {
		return "", fmt.Errorf("create minio certs dir: %w", err)
	}
	for src, dst := range map[string]string{
		m.sec.certs.ServerCert: "public.crt",
		m.sec.certs.ServerKey:  "private.key",
		m.sec.certs.CA:         filepath.Join("CAs", "ca.crt"),
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			return "", fmt.Errorf("write minio %s: %w", dst, err)
		}
	}
	return dir, nil
}

func (m *minioService) start(cache string, detach bool) error {
	data := filepath.Join(m.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create minio data dir: %w", err)
	}
	args := []string{"server", "--quiet",
		"--address", m.endpoint(),
		"--console-address", "127.0.0.1:" + strconv.Itoa(m.consolePort)}
	env := append(os.Environ(),
		"MINIO_ROOT_USER="+m.user, "MINIO_ROOT_PASSWORD="+m.password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	if m.sec != nil {
		certs, err := m.certsDir()
		if err != nil {
			return err
		}
		// With certificates in --certs-dir MinIO serves https only. The
		// static KMS key makes SSE-S3 and SSE-KMS (key silt-key) work.
		args = append(args, "--certs-dir", certs)
		env = append(env, "MINIO_KMS_SECRET_KEY="+m.sec.kmsKey)
	}
	cmd := exec.Command(minioBin(cache), append(args, data)...)
	cmd.Env = env
	var err error
	m.proc, err = startProcess("minio", cmd, filepath.Join(m.dir, "minio.log"), detach)
	return err
}

// ready waits for the health endpoint, then creates the bucket through
// minio-go exactly as silt itself would (over https with the CA on a
// secure stack).
func (m *minioService) ready(ctx context.Context, bucket, region string) error {
	url := m.url() + "/minio/health/live"
	client := http.DefaultClient
	if m.sec != nil {
		client = httpsClient(m.sec.client)
	}
	err := poll(ctx, m.proc, "health", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if m.sec != nil {
		return m.makeBucketTLS(ctx, client.Transport, bucket, region)
	}
	_, err = lake.NewS3(ctx, lake.S3Options{
		Endpoint: m.endpoint(), Bucket: bucket, Region: region,
		AccessKey: m.user, SecretKey: m.password, PathStyle: true, CreateBucket: true,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// makeBucketTLS creates the bucket over https, trusting the stack's CA:
// lake.S3Options has no CA of its own, so minio-go is used directly.
func (m *minioService) makeBucketTLS(ctx context.Context, tr http.RoundTripper, bucket, region string) error {
	cl, err := minio.New(m.endpoint(), &minio.Options{
		Creds: credentials.NewStaticV4(m.user, m.password, ""), Secure: true,
		Region: region, BucketLookup: minio.BucketLookupPath, Transport: tr,
	})
	if err != nil {
		return fmt.Errorf("s3 client for %s: %w", m.endpoint(), err)
	}
	err = cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region})
	if err != nil {
		if ok, e := cl.BucketExists(ctx, bucket); e == nil && ok {
			return nil
		}
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}
