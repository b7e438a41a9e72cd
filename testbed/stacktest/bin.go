package stacktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// SiltBin is the silt binary end-to-end tests run: SILT_BIN (make test
// builds it once for every package), or one built once per test binary.
func SiltBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("SILT_BIN"); b != "" {
		return b
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "silt-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "silt")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/silt-etl/silt/cmd/silt").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("silt binary: %v", binErr)
	}
	return binPath
}
