//go:build integration

package collect

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/stack"
)

// ownKafka is a single real Kafka broker this test owns, so it can stop
// and restart it without taking Kafka away from the shared stack. It runs
// the Kafka the stack installed (stacktest.Get must have run first).
type ownKafka struct {
	t          *testing.T
	java, libs string
	dir, conf  string
	port       int
	cmd        *exec.Cmd
	exited     chan struct{}
}

func startOwnKafka(t *testing.T) *ownKafka {
	t.Helper()
	cache, err := stack.DefaultCacheDir()
	if err != nil {
		t.Fatalf("stack cache: %v", err)
	}
	k := &ownKafka{t: t, libs: filepath.Join(cache, "kafka-"+stack.KafkaVersion, "libs"), dir: t.TempDir()}
	if _, err := os.Stat(k.libs); err != nil {
		t.Fatalf("the stack's Kafka is not installed at %s: %v", k.libs, err)
	}
	k.java = "java"
	if h := os.Getenv("JAVA_HOME"); h != "" {
		k.java = filepath.Join(h, "bin", "java")
	}
	k.port = freePort(t)
	ctl := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	broker := fmt.Sprintf("127.0.0.1:%d", k.port)
	k.conf = filepath.Join(k.dir, "server.properties")
	props := strings.Join([]string{
		"process.roles=broker,controller", "node.id=1", "controller.quorum.voters=1@" + ctl,
		"listeners=PLAINTEXT://" + broker + ",CONTROLLER://" + ctl, "advertised.listeners=PLAINTEXT://" + broker,
		"controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(k.dir, "data"), "num.partitions=3",
		"offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1", "auto.create.topics.enable=true", "",
	}, "\n")
	if err := os.WriteFile(k.conf, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	format := exec.Command(k.java, "-Xmx256m", "-cp", filepath.Join(k.libs, "*"),
		"kafka.tools.StorageTool", "format", "-t", "c2lsdC1jb2xsZWN0LXRlc3Q", "-c", k.conf)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format kafka storage: %v\n%s", err, out)
	}
	t.Cleanup(k.stop)
	k.start()
	return k
}

func (k *ownKafka) addr() string { return fmt.Sprintf("127.0.0.1:%d", k.port) }

// start runs the broker on the same config and data, and waits until it
// answers metadata.
func (k *ownKafka) start() {
	k.t.Helper()
	logf, err := os.OpenFile(filepath.Join(k.dir, "kafka.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		k.t.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	k.cmd = exec.Command(k.java, "-Xms128m", "-Xmx384m", "-cp", filepath.Join(k.libs, "*"), "kafka.Kafka", k.conf)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		k.t.Fatalf("start kafka: %v", err)
	}
	k.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(k.cmd, k.exited)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.addr()))
		if err == nil {
			md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			cl.Close()
			if err == nil && len(md.Brokers) > 0 {
				return
			}
		}
		select {
		case <-k.exited:
			k.t.Fatalf("kafka exited while starting; see %s", filepath.Join(k.dir, "kafka.log"))
		case <-ctx.Done():
			k.t.Fatalf("kafka did not become ready; see %s", filepath.Join(k.dir, "kafka.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop ends the broker (SIGTERM, a clean shutdown) and waits for it.
func (k *ownKafka) stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.exited
	}
	k.cmd = nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil { // else the port is not free
		t.Fatal(err)
	}
	return port
}
