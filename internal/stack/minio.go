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
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		in.say("building MinIO %s@%s with go install into %s (first run only, several minutes)", MinIOModule, MinIOVersion, filepath.Dir(bin))
		tmp, err := os.MkdirTemp(in.cache, ".minio-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
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
	proc              *Process
}

func newMinIO(runDir string) (*minioService, error) {
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
	}, nil
}

func (m *minioService) endpoint() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

func (m *minioService) start(cache string, detach bool) error {
	data := filepath.Join(m.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create minio data dir: %w", err)
	}
	cmd := exec.Command(minioBin(cache), "server", "--quiet",
		"--address", m.endpoint(),
		"--console-address", "127.0.0.1:"+strconv.Itoa(m.consolePort),
		data)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.user, "MINIO_ROOT_PASSWORD="+m.password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	var err error
	m.proc, err = startProcess("minio", cmd, filepath.Join(m.dir, "minio.log"), detach)
	return err
}

// ready waits for the health endpoint, then creates the bucket through
// minio-go exactly as silt itself would.
func (m *minioService) ready(ctx context.Context, bucket, region string) error {
	url := "http://" + m.endpoint() + "/minio/health/live"
	err := poll(ctx, m.proc, "health", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
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
