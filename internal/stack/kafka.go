package stack

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaPom lists the broker's jars; versions come from versions.go.
//
//go:embed maven/kafka-pom.xml
var kafkaPom []byte

func kafkaLibs(cache string) string {
	return filepath.Join(cache, "kafka-"+KafkaVersion, "libs")
}

func (in *installer) installKafka(ctx context.Context) error {
	libs := kafkaLibs(in.cache)
	done := filepath.Join(filepath.Dir(libs), ".complete")
	return in.once("kafka", func() bool { return fileExists(done) }, func() error {
		in.say("fetching Kafka %s jars from Maven Central into %s", KafkaVersion, libs)
		tmp, err := os.MkdirTemp(in.cache, ".kafka-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := os.WriteFile(filepath.Join(tmp, "pom.xml"), kafkaPom, 0o644); err != nil {
			return err
		}
		_ = os.RemoveAll(libs)
		err = in.maven(ctx, tmp, mavenDependencyPlugin("copy-dependencies"),
			"-Dkafka.version="+KafkaVersion, "-Dlog4j.version="+Log4jVersion,
			"-DincludeScope=runtime", "-DoutputDirectory="+libs)
		if err != nil {
			return err
		}
		return os.WriteFile(done, nil, 0o644)
	})
}

type kafkaService struct {
	port, controllerPort int
	dir                  string
	java                 string
	proc                 *Process
}

func newKafka(runDir, java string) (*kafkaService, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ctl, err := freePort()
	if err != nil {
		return nil, err
	}
	return &kafkaService{port: port, controllerPort: ctl, dir: filepath.Join(runDir, "kafka"), java: java}, nil
}

func (k *kafkaService) broker() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// start writes a single-node KRaft config, formats the storage and starts
// the combined broker and controller.
func (k *kafkaService) start(ctx context.Context, cache string, detach bool) error {
	data := filepath.Join(k.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create kafka data dir: %w", err)
	}
	ctl := "127.0.0.1:" + strconv.Itoa(k.controllerPort)
	props := strings.Join(kafkaProps(k.broker(), ctl, data), "\n")
	conf := filepath.Join(k.dir, "server.properties")
	if err := os.WriteFile(conf, []byte(props), 0o644); err != nil {
		return fmt.Errorf("write kafka config: %w", err)
	}
	log4j := filepath.Join(k.dir, "log4j2.properties")
	if err := os.WriteFile(log4j, []byte(kafkaLog4j), 0o644); err != nil {
		return fmt.Errorf("write kafka log config: %w", err)
	}
	cp := filepath.Join(kafkaLibs(cache), "*")
	logPath := filepath.Join(k.dir, "kafka.log")
	format := exec.CommandContext(ctx, k.java, "-Xmx256m", "-Dlog4j2.configurationFile="+log4j,
		"-cp", cp, "kafka.tools.StorageTool", "format", "-t", clusterID(), "-c", conf)
	if out, err := format.CombinedOutput(); err != nil {
		return fmt.Errorf("format kafka storage: %w\n%s", err, out)
	}
	cmd := exec.Command(k.java, "-Xms256m", "-Xmx512m", "-XX:+UseG1GC",
		"-Djava.awt.headless=true", "-Dlog4j2.configurationFile="+log4j,
		"-cp", cp, "kafka.Kafka", conf)
	cmd.Dir = k.dir
	var err error
	k.proc, err = startProcess("kafka", cmd, logPath, detach)
	return err
}

// kafkaProps is the broker's server.properties. docker/compose.yml sets the
// same through the image's KAFKA_* variables; docker_test.go keeps them equal.
func kafkaProps(broker, ctl, data string) []string {
	return []string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + ctl,
		"listeners=PLAINTEXT://" + broker + ",CONTROLLER://" + ctl,
		"advertised.listeners=PLAINTEXT://" + broker,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs=" + data,
		"num.partitions=1",
		"offsets.topic.replication.factor=1",
		"offsets.topic.num.partitions=4",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		// Tests join groups often; the default 3 s delay would slow each one.
		"group.initial.rebalance.delay.ms=0",
		"auto.create.topics.enable=true",
		"",
	}
}

// ready waits until the broker answers metadata requests as a registered,
// unfenced broker.
func (k *kafkaService) ready(ctx context.Context) error {
	return poll(ctx, k.proc, "metadata", func(ctx context.Context) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.broker()))
		if err != nil {
			return err
		}
		defer cl.Close()
		md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if len(md.Brokers) == 0 {
			return fmt.Errorf("no brokers registered yet")
		}
		return nil
	})
}

// clusterID is a random KRaft cluster id: 16 bytes, base64url, no padding.
// Like Kafka's own Uuid.randomUuid it never starts with "-", which the
// StorageTool's argument parser takes for an option (1 start in 64 failed
// with "argument --cluster-id/-t: expected one argument").
func clusterID() string {
	b := make([]byte, 16)
	for {
		_, _ = rand.Read(b)
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id
		}
	}
}

const kafkaLog4j = `rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
`
