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
	"github.com/twmb/franz-go/pkg/sasl/scram"
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
		defer func() { _ = os.RemoveAll(tmp) }()
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
	// port is the client listener: PLAINTEXT, or SASL_SSL when secure.
	port, controllerPort int
	// mtlsPort is the SSL listener with required client certificates
	// of a secure stack.
	mtlsPort int
	dir      string
	java     string
	sec      *security // nil: plain
	proc     *Process
}

func newKafka(runDir, java string, sec *security) (*kafkaService, error) {
	k := &kafkaService{dir: filepath.Join(runDir, "kafka"), java: java, sec: sec}
	ports := []*int{&k.port, &k.controllerPort}
	if sec != nil {
		ports = append(ports, &k.mtlsPort)
	}
	for _, p := range ports {
		var err error
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *kafkaService) broker() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// mtlsBroker is the SSL (client certificate) listener of a secure stack.
func (k *kafkaService) mtlsBroker() string { return "127.0.0.1:" + strconv.Itoa(k.mtlsPort) }

// clientOpts are what a franz-go client needs besides the seed brokers:
// nothing on a plain stack, the CA and SCRAM-SHA-512 as silt on a secure one.
func (k *kafkaService) clientOpts() []kgo.Opt {
	if k.sec == nil {
		return nil
	}
	return []kgo.Opt{
		kgo.DialTLSConfig(k.sec.client.Clone()),
		kgo.SASL(scram.Auth{User: siltUser, Pass: k.sec.kafkaPassword}.AsSha512Mechanism()),
	}
}

// start writes a single-node KRaft config, formats the storage and starts
// the combined broker and controller.
func (k *kafkaService) start(ctx context.Context, cache string, detach bool) error {
	data := filepath.Join(k.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create kafka data dir: %w", err)
	}
	ctl := "127.0.0.1:" + strconv.Itoa(k.controllerPort)
	lines := kafkaProps(k.broker(), ctl, data)
	if k.sec != nil {
		lines = secureKafkaProps(k.broker(), k.mtlsBroker(), ctl, data, k.sec)
	}
	props := strings.Join(lines, "\n")
	conf := filepath.Join(k.dir, "server.properties")
	// 0600: a secure stack's holds the PLAIN users' passwords.
	if err := os.WriteFile(conf, []byte(props), 0o600); err != nil {
		return fmt.Errorf("write kafka config: %w", err)
	}
	log4j := filepath.Join(k.dir, "log4j2.properties")
	if err := os.WriteFile(log4j, []byte(kafkaLog4j), 0o644); err != nil {
		return fmt.Errorf("write kafka log config: %w", err)
	}
	cp := filepath.Join(kafkaLibs(cache), "*")
	logPath := filepath.Join(k.dir, "kafka.log")
	formatArgs := []string{"-Xmx256m", "-Dlog4j2.configurationFile=" + log4j,
		"-cp", cp, "kafka.tools.StorageTool", "format", "-t", clusterID(), "-c", conf}
	if k.sec != nil {
		// SCRAM credentials live in the KRaft metadata; format writes
		// them into the bootstrap records, so they exist from the
		// first start with no admin call.
		for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
			formatArgs = append(formatArgs, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, siltUser, k.sec.kafkaPassword))
		}
	}
	format := exec.CommandContext(ctx, k.java, formatArgs...)
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

// secureKafkaProps is the secure stack's server.properties: the plain
// settings with other listeners.
//
//   - SASL_SSL on broker, for clients and inter-broker traffic: SCRAM-SHA-512
//     and SCRAM-SHA-256 (credentials from kafka-storage format --add-scram)
//     and PLAIN (users in the listener's JAAS config). The broker talks to
//     itself as admin over PLAIN, which needs no metadata to be loaded.
//   - SSL on mtls, with ssl.client.auth=required on that listener only.
//   - CONTROLLER stays PLAINTEXT: the KRaft quorum of this one node talks
//     to itself on 127.0.0.1, which nothing outside this machine reaches;
//     no client ever connects to it, and securing it would add only a
//     second copy of the same settings.
//
// No authorizer: any authenticated principal may do anything, as on the
// plain stack. Keys and trust are PEM files (ssl.*.type=PEM), so no keytool.
func secureKafkaProps(broker, mtls, ctl, data string, sec *security) []string {
	plain := fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s" user_%s="%s" user_%s="%s";`,
		kafkaAdmin, sec.kafkaAdminPassword, kafkaAdmin, sec.kafkaAdminPassword, siltUser, sec.kafkaPassword)
	const scramModule = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	props := []string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + ctl,
		"listeners=SASL_SSL://" + broker + ",SSL://" + mtls + ",CONTROLLER://" + ctl,
		"advertised.listeners=SASL_SSL://" + broker + ",SSL://" + mtls,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=SASL_SSL",
		"listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
		"sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"sasl.mechanism.inter.broker.protocol=PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config=" + plain,
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=" + scramModule,
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=" + scramModule,
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + sec.certs.ServerPEM,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + sec.certs.CA,
		"listener.name.ssl.ssl.client.auth=required",
	}
	// Everything else as on the plain stack.
	for _, p := range kafkaProps(broker, ctl, data) {
		switch k, _, _ := strings.Cut(p, "="); k {
		case "process.roles", "node.id", "controller.quorum.voters", "listeners", "advertised.listeners",
			"controller.listener.names", "inter.broker.listener.name", "listener.security.protocol.map":
		default:
			props = append(props, p)
		}
	}
	return props
}

// ready waits until the broker answers metadata requests as a registered,
// unfenced broker; on a secure stack over SASL_SSL with SCRAM-SHA-512,
// and then over the mTLS listener with the client certificate.
func (k *kafkaService) ready(ctx context.Context) error {
	check := func(seed string, opts ...kgo.Opt) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seed)}, opts...)...)
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
		}
	}
	if err := poll(ctx, k.proc, "metadata", check(k.broker(), k.clientOpts()...)); err != nil {
		return err
	}
	if k.sec == nil {
		return nil
	}
	mtls, err := clientTLS(k.sec.certs.CA, k.sec.certs.ClientCert, k.sec.certs.ClientKey)
	if err != nil {
		return err
	}
	return poll(ctx, k.proc, "metadata over mTLS", check(k.mtlsBroker(), kgo.DialTLSConfig(mtls)))
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
