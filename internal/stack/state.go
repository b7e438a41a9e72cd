package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultStateFile is where silt stack keeps its state without --state.
func DefaultStateFile() (string, error) {
	cache, err := DefaultCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "stack", "state.json"), nil
}

// DefaultSecureStateFile is where silt stack --secure keeps its state
// without --state: apart from the plain stack's, so both can run.
func DefaultSecureStateFile() (string, error) {
	cache, err := DefaultCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "stack", "secure-state.json"), nil
}

// writeState writes the state atomically and private: it holds the MinIO
// root password.
func writeState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stack state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write stack state: %w", err)
	}
	return nil
}

// Attach reads the state file of a stack started by another process. Down
// on the result stops that stack.
func Attach(path string) (*Stack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stack state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read stack state %s: %w", path, err)
	}
	return &Stack{state: s, stateFile: path}, nil
}

// ServiceStatus is one service as Status sees it.
type ServiceStatus struct {
	Name    string
	PID     int
	Running bool
	// Listening is the service's main address answering TCP connections.
	Listening bool
	Addr      string
	Log       string
}

// Status checks each process and its main port.
func (s *Stack) Status(ctx context.Context) []ServiceStatus {
	addrs := map[string]string{
		"minio": s.state.Endpoints.S3Endpoint,
		"trino": hostPort(s.state.Endpoints.TrinoServer),
	}
	if u := s.state.Endpoints.MetastoreURI; u != "" {
		addrs["metastore"] = strings.TrimPrefix(u, "thrift://")
	}
	if len(s.state.Endpoints.KafkaBrokers) > 0 {
		addrs["kafka"] = s.state.Endpoints.KafkaBrokers[0]
	}
	out := make([]ServiceStatus, 0, len(s.state.Processes))
	for _, p := range s.state.Processes {
		st := ServiceStatus{Name: p.Name, PID: p.PID, Running: p.Running(), Addr: addrs[p.Name], Log: p.Log}
		if st.Addr != "" {
			d := net.Dialer{Timeout: 2 * time.Second}
			if c, err := d.DialContext(ctx, "tcp", st.Addr); err == nil {
				_ = c.Close()
				st.Listening = true
			}
		}
		out = append(out, st)
	}
	return out
}

// Healthy reports whether every service runs and listens.
func (s *Stack) Healthy(ctx context.Context) error {
	st := s.Status(ctx)
	if len(st) == 0 {
		return fmt.Errorf("stack has no processes")
	}
	for _, x := range st {
		if !x.Running || !x.Listening {
			return fmt.Errorf("%s (pid %d) is not running or not listening on %s; log %s", x.Name, x.PID, x.Addr, x.Log)
		}
	}
	return nil
}

// hostPort is a URL's host:port (http://127.0.0.1:8080 -> 127.0.0.1:8080).
func hostPort(url string) string {
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	h, _, _ := strings.Cut(rest, "/")
	return h
}
