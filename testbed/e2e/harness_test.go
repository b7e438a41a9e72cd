//go:build integration

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// world is one test's slice of the real stack: its own topic, consumer
// group and lake prefix, so tests never see each other's data.
type world struct {
	ep     *stack.Endpoints
	topic  string
	store  *lake.S3
	env    []string
	config string
}

func newWorld(t *testing.T, partitions int32, extraEnv ...string) *world {
	t.Helper()
	return newWorldOn(t, stacktest.Get(t), partitions, extraEnv...)
}

// newWorldOn is newWorld on the stack ep, plain or secure: on a secure
// stack the test's own Kafka and S3 clients speak TLS with the stack's
// CA (and SCRAM), as silt does with ep.Env().
func newWorldOn(t *testing.T, ep *stack.Endpoints, partitions int32, extraEnv ...string) *world {
	t.Helper()
	ctx := context.Background()
	topic := fmt.Sprintf("e2e-%s-%d", sanitize(t.Name()), time.Now().UnixNano()%1e9)
	cl, err := kgo.NewClient(stacktest.KafkaOpts(t, ep)...)
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	require.NoError(t, err)

	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: topic, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
		Secure: ep.Secure, CAFile: ep.S3CAFile,
	})
	require.NoError(t, err)
	cfgPath := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("log:\n  format: json\n"), 0o644))
	env := append(os.Environ(), ep.Env()...)
	env = append(env,
		"SILT_KAFKA_TOPICS="+topic, "SILT_KAFKA_GROUP="+topic, "SILT_S3_PREFIX="+topic,
		"SILT_KAFKA_SESSION_TIMEOUT=6s", "SILT_TRINO_SCHEMA="+sanitize(topic),
	)
	env = append(env, extraEnv...)
	return &world{ep: ep, topic: topic, store: store, env: env, config: cfgPath}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 32
			} else {
				b[i] = '_'
			}
		}
	}
	return string(b)
}

// produce publishes n synthetic events to the world's topic and returns
// the count per type.
func (w *world) produce(t *testing.T, n int, seed uint64) map[string]int64 {
	t.Helper()
	return stacktest.ProduceWith(t, stacktest.KafkaOpts(t, w.ep), w.topic, n, seed)
}

// proc is a running silt process with its output captured.
type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

func (w *world) start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(stacktest.SiltBin(t), args...)
	cmd.Env = w.env
	var buf bytes.Buffer
	mu := &sync.Mutex{}
	cmd.Stdout = lockedWriter{&buf, mu}
	cmd.Stderr = lockedWriter{&buf, mu}
	require.NoError(t, cmd.Start())
	return &proc{cmd: cmd, out: &buf, mu: mu}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// groupLag is the consumer group's total lag on the world's topic.
func (w *world) groupLag(t *testing.T) int64 {
	t.Helper()
	return stacktest.GroupLagWith(t, stacktest.KafkaOpts(t, w.ep), w.topic, w.topic)
}
