package docker

import (
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/stack"
)

// The secured variant, docker/compose.secure.yml over docker/compose.yml,
// checked the way compose_test.go checks the plain stack: resolved by
// Docker Compose itself, then each service's security read off the merged
// result and the files it mounts.

// siltServices are the services running silt's image.
var siltServices = []string{"silt", "collector", "gen"}

func secureConfig(t *testing.T) composeProject {
	t.Helper()
	p, stderr, err := composeConfigFiles(t, filepath.Join(repoRoot(t), "docker", ".env.example"), "compose.yml", "compose.secure.yml")
	if err != nil {
		t.Fatalf("docker compose -f compose.yml -f compose.secure.yml config: %v\n%s", err, stderr)
	}
	return p
}

func TestSecureComposeResolves(t *testing.T) {
	plain, stderr, err := composeConfig(t, filepath.Join(repoRoot(t), "docker", ".env.example"))
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, stderr)
	}
	p := secureConfig(t)
	want := []string{"tls-init", "trino-auth", "kafka-init"}
	for name := range plain.Services {
		want = append(want, name)
	}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	if len(p.Services) != len(want) {
		t.Errorf("%d services, want %d: a new service needs a place in these checks", len(p.Services), len(want))
	}
	for _, name := range []string{"tls-init", "trino-auth", "kafka-init"} {
		if !p.Services[name].oneShot() {
			t.Errorf("%s: a one-shot job must have restart \"no\"", name)
		}
	}
}

// TestSecureComposeRules: the plain stack's rules hold for the merged one.
// The certificates are bind mounts of files `silt stack certs` writes, not
// of the repository: only tls-init mounts them, read-only, only the ones
// the services need, and Docker must not create a missing one (as an empty
// directory, which `silt stack certs` would then trip over).
func TestSecureComposeRules(t *testing.T) {
	p := secureConfig(t)
	certsDir := filepath.Join(repoRoot(t), "docker", "certs")
	pki := generatedCerts(t)
	private := map[string]string{
		filepath.Base(pki.CAKey):            "the CA's key signs certificates: it never leaves the host",
		filepath.Base(pki.ClientKey):        "the client key is for clients on the host",
		filepath.Base(pki.ExpiredClientKey): "the expired client key is for negative tests",
	}
	written := map[string]bool{}
	for _, f := range certFilesOf(pki) {
		written[filepath.Base(f)] = true
	}
	checkComposeRules(t, p, func(service string, v composeVolume) bool {
		if filepath.Dir(v.Source) != certsDir {
			return false
		}
		base := filepath.Base(v.Source)
		switch {
		case service != "tls-init":
			t.Errorf("%s mounts %s: only tls-init reads docker/certs (the others read the tls volume)", service, base)
		case !written[base]:
			t.Errorf("tls-init mounts docker/certs/%s, which silt stack certs does not write (it writes %v)", base, slices.Sorted(maps.Keys(written)))
		case private[base] != "":
			t.Errorf("tls-init mounts docker/certs/%s: %s", base, private[base])
		case !v.ReadOnly:
			t.Errorf("tls-init mounts docker/certs/%s writable", base)
		case v.Bind != nil && v.Bind.CreateHostPath:
			t.Errorf("tls-init mounts docker/certs/%s with create_host_path: a missing file must stop compose, not become a directory", base)
		}
		return true
	})
	// Only the jobs that fill the tls and trino-auth volumes write them, and
	// only they run as root (to give each file to its reader); every other
	// service keeps its image's user.
	writers := map[string]string{"tls": "tls-init", "trino-auth": "trino-auth"}
	for name, s := range p.Services {
		asRoot := s.User == "0" || strings.HasPrefix(s.User, "0:") || strings.HasPrefix(s.User, "root")
		if isWriter := slices.Contains(slices.Collect(maps.Values(writers)), name); asRoot != isWriter {
			t.Errorf("%s: user %q: only tls-init and trino-auth run as root", name, s.User)
		}
		for _, v := range s.Volumes {
			if w, ok := writers[v.Source]; ok && v.Type == "volume" && !v.ReadOnly && name != w {
				t.Errorf("%s mounts volume %s writable: only %s writes it", name, v.Source, w)
			}
		}
	}
}

// TestSecureComposeSilt: silt, the collector and gen connect over TLS to
// every service, authenticate, trust the stack's CA from the tls volume,
// and read every secret from a Docker secret file of their own.
func TestSecureComposeSilt(t *testing.T) {
	p := secureConfig(t)
	layout := tlsInitLayout(t, p)
	kafka := kafkaProperties(p.Services["kafka"])
	uid := siltImageUID(t)
	secretFiles := configSecretFiles()
	for _, name := range siltServices {
		s := p.Services[name]
		env := s.Environment
		for _, k := range []string{"SILT_KAFKA_TLS_ENABLED", "SILT_S3_SECURE"} {
			if env[k] != "true" {
				t.Errorf("%s: %s=%q, want true", name, k, env[k])
			}
		}
		mech := env["SILT_KAFKA_SASL_MECHANISM"]
		if !slices.Contains([]string{"scram-sha-512", "scram-sha-256", "plain"}, mech) {
			t.Errorf("%s: SILT_KAFKA_SASL_MECHANISM=%q: want a user and password mechanism the stack's Kafka has", name, mech)
		} else if !slices.Contains(strings.Split(kafka["sasl.enabled.mechanisms"], ","), strings.ToUpper(mech)) {
			t.Errorf("%s: SASL mechanism %s is not in Kafka's sasl.enabled.mechanisms %q", name, mech, kafka["sasl.enabled.mechanisms"])
		}
		if env["SILT_KAFKA_SASL_USERNAME"] == "" {
			t.Errorf("%s: no SILT_KAFKA_SASL_USERNAME", name)
		}
		u, err := url.Parse(env["SILT_TRINO_URL"])
		if err != nil || u.Scheme != "https" || u.Hostname() != "trino" {
			t.Errorf("%s: SILT_TRINO_URL=%q, want https://trino:PORT", name, env["SILT_TRINO_URL"])
		} else if port := trinoProperties(t, p)["http-server.https.port"]; u.Port() != port {
			t.Errorf("%s: SILT_TRINO_URL port %s, but Trino serves https on %s", name, u.Port(), port)
		}
		if env["SILT_TRINO_USER"] == "" {
			t.Errorf("%s: no SILT_TRINO_USER", name)
		}

		// The CA is in the container: on the tls volume, where tls-init
		// puts the CA of docker/certs.
		for _, k := range []string{"SILT_KAFKA_TLS_CA_FILE", "SILT_S3_CA_FILE", "SILT_TRINO_CA_FILE"} {
			if src := layout.source(t, s, env[k]); src != "ca.crt" {
				t.Errorf("%s: %s=%q is not the stack's CA on the tls volume (it holds docker/certs/%s there)", name, k, env[k], src)
			}
		}

		// Each secret silt reads comes from a file of a Docker secret; the
		// key itself is blank, since silt refuses both.
		want := []string{"SILT_KAFKA_SASL_PASSWORD_FILE", "SILT_S3_ACCESS_KEY_FILE", "SILT_S3_SECRET_KEY_FILE", "SILT_TRINO_PASSWORD_FILE"}
		if name != "silt" {
			want = append(want, "SILT_COLLECT_TOKEN_FILE")
		}
		for _, k := range want {
			if env[k] == "" {
				t.Errorf("%s: %s is not set", name, k)
			}
		}
		used := map[string]bool{}
		for fileKey, secretKey := range secretFiles {
			if v := env[secretKey]; v != "" {
				t.Errorf("%s: %s is set in the environment (%d bytes): use %s and a Docker secret", name, secretKey, len(v), fileKey)
			}
			path := env[fileKey]
			if path == "" {
				continue
			}
			ref, ok := secretAt(s, path)
			if !ok {
				t.Errorf("%s: %s=%s, but no secret of the service is there", name, fileKey, path)
				continue
			}
			used[ref.Source] = true
			def, ok := p.Secrets[ref.Source]
			switch {
			case !ok:
				t.Errorf("%s: secret %s is not defined", name, ref.Source)
			case def.Environment == "":
				t.Errorf("%s: secret %s does not come from docker/.env (environment:)", name, ref.Source)
			}
			if ref.UID != uid {
				t.Errorf("%s: secret %s is owned by uid %q, but silt's image runs as %s: it could not read it", name, ref.Source, ref.UID, uid)
			}
			if ref.Mode == nil || *ref.Mode&0o400 == 0 || *ref.Mode&0o077 != 0 {
				t.Errorf("%s: secret %s mode %s: want readable by its owner only (0400)", name, ref.Source, ref.mode())
			}
		}
		for _, ref := range s.Secrets {
			if !used[ref.Source] {
				t.Errorf("%s: secret %s is mounted but no SILT_*_FILE reads it", name, ref.Source)
			}
		}
		// No other secret-named variable holds a value.
		for k, v := range env {
			if secretKeyRE.MatchString(k) && !strings.HasSuffix(k, "_FILE") && v != "" {
				t.Errorf("%s: %s holds a secret in the environment", name, k)
			}
		}

		for _, dep := range []string{"tls-init", "kafka-init"} {
			if s.DependsOn[dep].Condition != "service_completed_successfully" {
				t.Errorf("%s does not wait for %s to complete", name, dep)
			}
		}
	}
}

// TestSecureComposeKafka: the only listeners other containers reach are
// SASL_SSL and SSL; silt's broker address is the SASL_SSL one; the host's
// is mTLS; the broker's keys are PEM files on the tls volume.
func TestSecureComposeKafka(t *testing.T) {
	p := secureConfig(t)
	s := p.Services["kafka"]
	props := kafkaProperties(s)
	layout := tlsInitLayout(t, p)
	for k := range s.Environment {
		if !regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			t.Errorf("kafka: variable %q: spell - as ___ and _ as __ (the image's documented encoding); a shell drops names it cannot hold", k)
		}
	}

	protocols := map[string]string{}
	for _, e := range strings.Split(props["listener.security.protocol.map"], ",") {
		name, proto, _ := strings.Cut(e, ":")
		protocols[name] = proto
	}
	listeners := parseListeners(t, props["listeners"])
	advertised := parseListeners(t, props["advertised.listeners"])
	if len(listeners) == 0 || len(advertised) == 0 {
		t.Fatalf("kafka: listeners %q, advertised %q", props["listeners"], props["advertised.listeners"])
	}
	secure := func(proto string) bool { return proto == "SSL" || proto == "SASL_SSL" }
	for name, addr := range listeners {
		proto := protocols[name]
		host, _, _ := net.SplitHostPort(addr)
		if !secure(proto) && host != "127.0.0.1" && host != "localhost" {
			t.Errorf("kafka: listener %s (%s) binds %q: other containers reach it in plaintext; bind it to 127.0.0.1 or use SSL/SASL_SSL", name, proto, addr)
		}
	}
	for name := range advertised {
		if !secure(protocols[name]) {
			t.Errorf("kafka: advertised listener %s is %s", name, protocols[name])
		}
	}
	// The image's start script demands JKS key stores with passwords when
	// an advertised listener is spelled SSL:// or SASL_SSL://, which the
	// PEM files without password are not.
	if adv := props["advertised.listeners"]; strings.Contains(adv, "SSL://") || regexp.MustCompile(`SASL_.*://`).MatchString(adv) {
		t.Errorf("kafka: advertised.listeners %q: a listener named ...SSL or SASL_... trips the apache/kafka image's start script; name it otherwise and map it in listener.security.protocol.map", adv)
	}
	ctl := props["controller.listener.names"]
	if want := "1@" + listeners[ctl]; props["controller.quorum.voters"] != want {
		t.Errorf("kafka: controller.quorum.voters %q, want %q (the %s listener)", props["controller.quorum.voters"], want, ctl)
	}

	// silt's broker (docker/silt.yaml) is a SASL_SSL listener.
	cfg := loadSiltYAML(t)
	if len(cfg.Kafka.Brokers) != 1 {
		t.Fatalf("kafka.brokers %v, want one", cfg.Kafka.Brokers)
	}
	var siltListener string
	for name, addr := range advertised {
		if addr == cfg.Kafka.Brokers[0] {
			siltListener = name
		}
	}
	if protocols[siltListener] != "SASL_SSL" {
		t.Errorf("kafka: silt's broker %s is advertised by listener %q (%s), want SASL_SSL", cfg.Kafka.Brokers[0], siltListener, protocols[siltListener])
	}
	if ib := props["inter.broker.listener.name"]; protocols[ib] != "SASL_SSL" {
		t.Errorf("kafka: inter-broker listener %s is %s, want SASL_SSL", ib, protocols[ib])
	}
	mechs := strings.Split(props["sasl.enabled.mechanisms"], ",")
	for _, m := range []string{"SCRAM-SHA-512", "PLAIN"} {
		if !slices.Contains(mechs, m) {
			t.Errorf("kafka: sasl.enabled.mechanisms %v lacks %s", mechs, m)
		}
	}
	// PLAIN needs no metadata, so the broker can authenticate to itself
	// before the SCRAM users exist.
	if ibm := props["sasl.mechanism.inter.broker.protocol"]; ibm != "PLAIN" {
		t.Errorf("kafka: sasl.mechanism.inter.broker.protocol %q, want PLAIN", ibm)
	}
	prefix := "listener.name." + strings.ToLower(siltListener) + "."
	for _, m := range mechs {
		jaas := props[prefix+strings.ToLower(m)+".sasl.jaas.config"]
		module := map[string]string{"PLAIN": "PlainLoginModule", "SCRAM-SHA-512": "ScramLoginModule", "SCRAM-SHA-256": "ScramLoginModule"}[m]
		if module == "" || !strings.Contains(jaas, "."+module+" required") {
			t.Errorf("kafka: %s%s.sasl.jaas.config = %q: want the %s", prefix, strings.ToLower(m), jaas, module)
		}
		if m == "PLAIN" {
			opts := map[string]string{}
			for _, o := range jaasOptionRE.FindAllStringSubmatch(jaas, -1) {
				opts[o[1]] = o[2]
			}
			admin := opts["username"]
			if admin == "" || opts["password"] == "" || opts["user_"+admin] != opts["password"] {
				t.Errorf("kafka: the PLAIN JAAS config must log the broker in as a user it defines (username, password, user_<username>)")
			}
		}
	}

	// The host's listener: the published port, SSL with client certificates.
	if len(s.Ports) != 1 {
		t.Fatalf("kafka publishes %d ports, want 1", len(s.Ports))
	}
	var hostListener string
	for name, addr := range listeners {
		if _, port, _ := net.SplitHostPort(addr); port == strconv.Itoa(s.Ports[0].Target) {
			hostListener = name
		}
	}
	if protocols[hostListener] != "SSL" {
		t.Errorf("kafka: the published port %d is listener %q (%s), want SSL", s.Ports[0].Target, hostListener, protocols[hostListener])
	}
	if ca := props["listener.name."+strings.ToLower(hostListener)+".ssl.client.auth"]; ca != "required" {
		t.Errorf("kafka: listener %s ssl.client.auth = %q, want required (mTLS)", hostListener, ca)
	}

	// PEM key and trust stores, from the tls volume.
	for _, k := range []string{"ssl.keystore.type", "ssl.truststore.type"} {
		if props[k] != "PEM" {
			t.Errorf("kafka: %s = %q, want PEM", k, props[k])
		}
	}
	if src := layout.source(t, s, props["ssl.keystore.location"]); src != "server.pem" {
		t.Errorf("kafka: ssl.keystore.location %q is not the server key and certificate on the tls volume (it holds docker/certs/%s there)", props["ssl.keystore.location"], src)
	}
	if f := layout.file(t, s, props["ssl.keystore.location"]); f.owner != "$kafka_uid" || f.mode != "0400" {
		t.Errorf("kafka: its key store is owned by %s with mode %s, want Kafka's user ($kafka_uid) and 0400", f.owner, f.mode)
	}
	if src := layout.source(t, s, props["ssl.truststore.location"]); src != "ca.crt" {
		t.Errorf("kafka: ssl.truststore.location %q is not the CA on the tls volume", props["ssl.truststore.location"])
	}
	if s.DependsOn["tls-init"].Condition != "service_completed_successfully" {
		t.Errorf("kafka does not wait for tls-init")
	}
}

// TestSecureComposeKafkaAdmin: the health check and kafka-init use the
// admin script as the PLAIN admin the broker defines, and kafka-init
// creates exactly the SCRAM user and password silt logs in with.
func TestSecureComposeKafkaAdmin(t *testing.T) {
	p := secureConfig(t)
	script := readDockerFile(t, "kafka/admin.sh")
	kafka := p.Services["kafka"]
	init := p.Services["kafka-init"]
	silt := p.Services["silt"]

	scriptAt := func(name string, s composeService) string {
		for _, v := range s.Volumes {
			if v.Type == "bind" && v.Source == filepath.Join(repoRoot(t), "docker", "kafka", "admin.sh") {
				return v.Target
			}
		}
		t.Errorf("%s does not mount docker/kafka/admin.sh", name)
		return "\x00"
	}
	if hc := kafka.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "bash", scriptAt("kafka", kafka), "ready"}) {
		t.Errorf("kafka: health check %v, want the admin script's ready", hc)
	}
	cmd := append(append([]string{}, init.Entrypoint...), init.Command...)
	user := silt.Environment["SILT_KAFKA_SASL_USERNAME"]
	siltSecret, _ := secretAt(silt, silt.Environment["SILT_KAFKA_SASL_PASSWORD_FILE"])
	if len(cmd) != 5 || cmd[0] != "bash" || cmd[1] != scriptAt("kafka-init", init) || cmd[2] != "scram-user" {
		t.Fatalf("kafka-init runs %v, want bash ADMIN_SCRIPT scram-user USER SECRET_FILE", cmd)
	}
	if cmd[3] != user {
		t.Errorf("kafka-init creates user %q, silt logs in as %q", cmd[3], user)
	}
	if ref, ok := secretAt(init, cmd[4]); !ok || ref.Source != siltSecret.Source {
		t.Errorf("kafka-init sets the password from %s (secret %q), silt reads secret %q", cmd[4], ref.Source, siltSecret.Source)
	}
	mech := strings.ToUpper(silt.Environment["SILT_KAFKA_SASL_MECHANISM"])
	if !strings.Contains(script, mech+"=[password=") {
		t.Errorf("admin.sh scram-user does not set %s credentials, silt's mechanism", mech)
	}
	if init.DependsOn["kafka"].Condition != "service_healthy" {
		t.Errorf("kafka-init does not wait for kafka to be healthy")
	}

	// The script logs in as the JAAS config's admin, with the secret that
	// holds the admin's password, over the listener silt uses, trusting
	// the CA on the tls volume.
	props := kafkaProperties(kafka)
	plainJAAS := ""
	for k, v := range props {
		if strings.HasSuffix(k, ".plain.sasl.jaas.config") {
			plainJAAS = v
		}
	}
	admin := regexp.MustCompile(`username="([^"]*)"`).FindStringSubmatch(plainJAAS)
	if admin == nil || !strings.Contains(script, `username="`+admin[1]+`"`) {
		t.Errorf("admin.sh does not log in as the PLAIN JAAS config's user (%v)", admin)
	}
	bootstrap := regexp.MustCompile(`bootstrap=(\S+)`).FindStringSubmatch(script)
	if bootstrap == nil || bootstrap[1] != loadSiltYAML(t).Kafka.Brokers[0] {
		t.Errorf("admin.sh bootstrap %v is not silt's SASL_SSL broker", bootstrap)
	}
	ca := regexp.MustCompile(`(?m)^ca=(\S+)`).FindStringSubmatch(script)
	layout := tlsInitLayout(t, p)
	for _, name := range []string{"kafka", "kafka-init"} {
		s := p.Services[name]
		if ca == nil || layout.source(t, s, ca[1]) != "ca.crt" {
			t.Errorf("%s: admin.sh's CA %v is not the CA on the tls volume", name, ca)
		}
		secretPath := regexp.MustCompile(`(?m)^admin_password=\$\(cat (/run/secrets/\S+)\)$`).FindStringSubmatch(script)
		if secretPath == nil || !strings.Contains(script, `password="$admin_password";`) {
			t.Fatalf("admin.sh does not log in with the admin password read from a secret")
		}
		ref, ok := secretAt(s, secretPath[1])
		if !ok {
			t.Errorf("%s: admin.sh reads %s, which is not one of its secrets", name, secretPath[1])
			continue
		}
		if env := p.Secrets[ref.Source].Environment; !strings.Contains(plainJAAS, `password="`+envFileValues(t, filepath.Join(repoRoot(t), "docker", ".env.example"))[env]+`"`) {
			t.Errorf("%s: secret %s (%s) is not the admin password of the JAAS config", name, ref.Source, env)
		}
		// The apache/kafka image runs as appuser, uid 1000.
		if ref.UID != "1000" || ref.Mode == nil || *ref.Mode != 0o400 {
			t.Errorf("%s: secret %s uid %q mode %s, want 1000 and 0400 (the image's appuser)", name, ref.Source, ref.UID, ref.mode())
		}
	}
}

// TestSecureComposeMinIO: MinIO serves the certificates tls-init lays out,
// and its own health check and the bucket job reach it over https.
func TestSecureComposeMinIO(t *testing.T) {
	p := secureConfig(t)
	s := p.Services["minio"]
	layout := tlsInitLayout(t, p)
	i := slices.Index(s.Command, "--certs-dir")
	if i < 0 || i+1 >= len(s.Command) {
		t.Fatalf("minio: command %v has no --certs-dir: it would serve http", s.Command)
	}
	dir := s.Command[i+1]
	for file, src := range map[string]string{"public.crt": "server.crt", "private.key": "server.key", "CAs/ca.crt": "ca.crt"} {
		if got := layout.source(t, s, path.Join(dir, file)); got != src {
			t.Errorf("minio: %s/%s holds docker/certs/%q, want %s", dir, file, got, src)
		}
	}
	if hc := s.Healthcheck; hc == nil || len(hc.Test) != 4 || hc.Test[1] != "mc" || hc.Test[2] != "ready" {
		t.Errorf("minio: health check %v, want mc ready ALIAS", hc)
	} else if alias := s.Environment["MC_HOST_"+hc.Test[3]]; !strings.HasPrefix(alias, "https://") || hc.Test[3] == "local" {
		// mc's default config has local as http://localhost:9000, which
		// may win over MC_HOST_local.
		t.Errorf("minio: health check alias %s is %q: want one only MC_HOST_ defines, over https", hc.Test[3], alias)
	}
	for _, name := range []string{"minio", "create-bucket"} {
		svc := p.Services[name]
		if layout.source(t, svc, svc.Environment["SSL_CERT_FILE"]) != "ca.crt" {
			t.Errorf("%s: SSL_CERT_FILE=%q is not the CA on the tls volume: mc would not trust MinIO", name, svc.Environment["SSL_CERT_FILE"])
		}
	}
	if job := strings.Join(p.Services["create-bucket"].Command, " "); !strings.Contains(job, "https://minio:9000") {
		t.Errorf("create-bucket: %q does not reach MinIO over https", job)
	}
	cfg := loadSiltYAML(t)
	if cfg.Lake.S3.Endpoint != "minio:9000" {
		t.Errorf("lake.s3.endpoint %q: the checks here assume minio:9000", cfg.Lake.S3.Endpoint)
	}
}

// TestSecureComposeTrino: https only on the published port, PASSWORD
// authentication from the file trino-auth writes for silt's user, the
// shared secret from docker/.env, and MinIO over https.
func TestSecureComposeTrino(t *testing.T) {
	p := secureConfig(t)
	s := p.Services["trino"]
	layout := tlsInitLayout(t, p)
	props := trinoProperties(t, p)
	want := map[string]string{
		"http-server.http.enabled":              "false",
		"http-server.https.enabled":             "true",
		"http-server.authentication.type":       "PASSWORD",
		"internal-communication.https.required": "true",
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("trino: %s = %q, want %q", k, props[k], v)
		}
	}
	if len(s.Ports) != 1 || strconv.Itoa(s.Ports[0].Target) != props["http-server.https.port"] {
		t.Errorf("trino: https on port %q, but compose publishes %v", props["http-server.https.port"], s.Ports)
	}
	if src := layout.source(t, s, props["http-server.https.keystore.path"]); src != "server.pem" {
		t.Errorf("trino: http-server.https.keystore.path %q is not the server key and certificate on the tls volume", props["http-server.https.keystore.path"])
	}
	if f := layout.file(t, s, props["http-server.https.keystore.path"]); f.owner != "$trino_uid" || f.mode != "0400" {
		t.Errorf("trino: its key is owned by %s with mode %s, want Trino's user ($trino_uid) and 0400", f.owner, f.mode)
	}
	if src := layout.source(t, s, props["internal-communication.https.truststore.path"]); src != "ca.crt" {
		t.Errorf("trino: internal-communication.https.truststore.path %q is not the CA", props["internal-communication.https.truststore.path"])
	}
	secret := regexp.MustCompile(`^\$\{ENV:(\w+)\}$`).FindStringSubmatch(props["internal-communication.shared-secret"])
	if secret == nil || s.Environment[secret[1]] == "" {
		t.Errorf("trino: internal-communication.shared-secret %q: want ${ENV:VAR} with VAR from docker/.env", props["internal-communication.shared-secret"])
	}
	for _, k := range []string{"discovery.uri", "node.internal-address"} {
		host := props[k]
		if u, err := url.Parse(host); err == nil && u.Host != "" {
			if u.Scheme != "https" {
				t.Errorf("trino: %s %q is not https", k, host)
			}
			host = u.Hostname()
		}
		if !slices.Contains(certHosts(t), host) {
			t.Errorf("trino: %s %q is not a name in the server certificate (--hosts %v)", k, props[k], certHosts(t))
		}
	}

	// The password file: what trino-auth writes, for silt's user, bcrypt.
	auth := mountedProperties(t, s, props["password-authenticator.config-files"])
	if auth["password-authenticator.name"] != "file" {
		t.Errorf("trino: password authenticator %q, want file", auth["password-authenticator.name"])
	}
	pwFile := auth["file.password-file"]
	vol, rel := volumeAt(s, pwFile)
	job := p.Services["trino-auth"]
	jobDir := ""
	for _, v := range job.Volumes {
		if v.Type == "volume" && v.Source == vol {
			jobDir = v.Target
		}
	}
	script := strings.Join(job.Command, " ")
	user := p.Services["silt"].Environment["SILT_TRINO_USER"]
	htpasswd := regexp.MustCompile(`htpasswd -ciB -C (\d+) (\S+) (\S+) < (\S+)`).FindStringSubmatch(script)
	switch {
	case vol == "" || jobDir == "":
		t.Errorf("trino: file.password-file %s is not on a volume trino-auth writes", pwFile)
	case htpasswd == nil:
		t.Errorf("trino-auth: %q does not run htpasswd -ciB -C COST FILE USER < SECRET", script)
	case htpasswd[2] != path.Join(jobDir, rel):
		t.Errorf("trino-auth writes %s, Trino reads %s (%s on its volume)", htpasswd[2], pwFile, rel)
	case htpasswd[3] != user:
		t.Errorf("trino-auth writes user %q, silt logs in as %q", htpasswd[3], user)
	default:
		if cost, _ := strconv.Atoi(htpasswd[1]); cost < 8 {
			t.Errorf("trino-auth: bcrypt cost %d, Trino requires at least 8", cost)
		}
		ref, ok := secretAt(job, htpasswd[4])
		siltRef, _ := secretAt(p.Services["silt"], p.Services["silt"].Environment["SILT_TRINO_PASSWORD_FILE"])
		if !ok || ref.Source != siltRef.Source {
			t.Errorf("trino-auth hashes %s (secret %q), silt sends secret %q", htpasswd[4], ref.Source, siltRef.Source)
		}
		if !strings.Contains(script, "chown 1000:1000 "+htpasswd[2]) {
			t.Errorf("trino-auth does not give %s to Trino's uid 1000", htpasswd[2])
		}
	}

	// The hive catalog: the plain one with MinIO over https, and the
	// JVM's trust store to check it.
	plain := parseProperties(readDockerFile(t, "trino/catalog/hive.properties"))
	secure := mountedProperties(t, s, "/etc/trino/catalog/hive.properties")
	checkSameExcept(t, "trino hive catalog", plain, secure, map[string]string{"s3.endpoint": "https://minio:9000"})
	plainIceberg := parseProperties(readDockerFile(t, "trino/catalog/iceberg.properties"))
	secureIceberg := mountedProperties(t, s, "/etc/trino/catalog/iceberg.properties")
	checkSameExcept(t, "trino iceberg catalog", plainIceberg, secureIceberg, map[string]string{"s3.endpoint": "https://minio:9000"})
	checkJVMTrust(t, "trino", s, layout)
	for _, dep := range []string{"tls-init", "trino-auth"} {
		if s.DependsOn[dep].Condition != "service_completed_successfully" {
			t.Errorf("trino does not wait for %s", dep)
		}
	}
}

// TestSecureComposeMetastore: the metastore reaches MinIO over https,
// trusting the CA; nothing else in its config changes.
func TestSecureComposeMetastore(t *testing.T) {
	p := secureConfig(t)
	s := p.Services["hive-metastore"]
	plain := xmlProperties(t, readDockerFile(t, "hive/metastore-site.xml"))
	var secure map[string]string
	for _, v := range s.Volumes {
		if v.Target == "/hive-conf/metastore-site.xml" {
			b, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			secure = xmlProperties(t, string(b))
		}
	}
	checkSameExcept(t, "metastore-site.xml", plain, secure, map[string]string{
		"fs.s3a.endpoint":               "https://minio:9000",
		"fs.s3a.connection.ssl.enabled": "true",
	})
	checkJVMTrust(t, "hive-metastore", s, tlsInitLayout(t, p))
	if s.DependsOn["tls-init"].Condition != "service_completed_successfully" {
		t.Errorf("hive-metastore does not wait for tls-init")
	}
}

// TestSecureComposeCertHosts: every name a client checks in the server
// certificate is one `silt stack certs --hosts` (as the header says to run
// it) puts there, and that certificate verifies for it against the CA.
func TestSecureComposeCertHosts(t *testing.T) {
	p := secureConfig(t)
	cfg := loadSiltYAML(t)
	kafka := kafkaProperties(p.Services["kafka"])
	names := map[string]string{}
	for _, addr := range parseListeners(t, kafka["advertised.listeners"]) {
		h, _, _ := net.SplitHostPort(addr)
		names[h] = "kafka's advertised listeners"
	}
	h, _, _ := net.SplitHostPort(cfg.Lake.S3.Endpoint)
	names[h] = "silt's S3 endpoint"
	for _, raw := range []string{
		p.Services["silt"].Environment["SILT_TRINO_URL"],
		trinoProperties(t, p)["discovery.uri"],
		mountedProperties(t, p.Services["trino"], "/etc/trino/catalog/hive.properties")["s3.endpoint"],
		p.Services["minio"].Environment["MC_HOST_secure"],
	} {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			t.Errorf("not a URL: %q", raw)
			continue
		}
		names[u.Hostname()] = raw
	}
	pki, err := stack.GenerateCerts(t.TempDir(), certHosts(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFile(t, pki.CA))) {
		t.Fatal("no CA")
	}
	block, _ := pem.Decode([]byte(readFile(t, pki.ServerCert)))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for name, where := range names {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("%s (%s): the server certificate of silt stack certs --hosts %s does not verify: %v", name, where, strings.Join(certHosts(t), ","), err)
		}
	}
}

// TestSecureComposeNeedsSecrets: without any one of the secured variant's
// variables compose refuses the files, naming it, before starting anything.
func TestSecureComposeNeedsSecrets(t *testing.T) {
	root := repoRoot(t)
	example := filepath.Join(root, "docker", ".env.example")
	p := secureConfig(t)
	vars := map[string]bool{"KAFKA_ADMIN_PASSWORD": true, "KAFKA_SCRAM_PASSWORD": true, "TRINO_PASSWORD": true, "TRINO_SHARED_SECRET": true, "COLLECT_TOKEN": true}
	for _, s := range p.Secrets {
		vars[s.Environment] = true
	}
	values := envFileValues(t, example)
	for v := range vars {
		t.Run(v, func(t *testing.T) {
			var lines []string
			for k, val := range values {
				if k != v {
					lines = append(lines, k+"="+val)
				}
			}
			env := filepath.Join(t.TempDir(), "env")
			if err := os.WriteFile(env, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, err := composeConfigFiles(t, env, "compose.yml", "compose.secure.yml")
			if err == nil {
				t.Fatalf("compose config succeeded without %s", v)
			}
			if !strings.Contains(string(stderr), v) {
				t.Errorf("the error does not name %s:\n%s", v, stderr)
			}
		})
	}
}

func TestSecureComposeNoLiteralSecrets(t *testing.T) {
	checkNoLiteralSecrets(t, "compose.secure.yml", true)
	// The scripts the jobs run hold none either: they read /run/secrets.
	for _, f := range []string{"kafka/admin.sh", "secure/tls-init.sh"} {
		for _, m := range inlinePasswordRE.FindAllStringSubmatch(readDockerFile(t, f), -1) {
			if !strings.HasPrefix(strings.Trim(m[1], `"`), "$") {
				t.Errorf("%s: literal password %q", f, m[1])
			}
		}
	}
}

// --- helpers ---

// kafkaProperties are the broker properties the apache/kafka image derives
// from the service's KAFKA_* variables: KAFKA_ dropped, lower case, _ to .,
// ___ to - and __ to _ (its KafkaDockerWrapper, and docker/examples/README.md).
func kafkaProperties(s composeService) map[string]string {
	props := map[string]string{}
	for k, v := range s.Environment {
		name, ok := strings.CutPrefix(k, "KAFKA_")
		if !ok || slices.Contains([]string{"HEAP_OPTS", "OPTS", "JMX_OPTS", "JVM_PERFORMANCE_OPTS", "LOG4J_OPTS"}, name) {
			continue
		}
		name = strings.ReplaceAll(strings.ToLower(name), "_", ".")
		name = strings.ReplaceAll(name, "...", "-")
		props[strings.ReplaceAll(name, "..", "_")] = v
	}
	return props
}

// parseListeners reads NAME://host:port,... into name -> host:port.
func parseListeners(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			t.Errorf("listener %q is not NAME://host:port", l)
			continue
		}
		out[name] = addr
	}
	return out
}

func parseProperties(text string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

func xmlProperties(t *testing.T, text string) map[string]string {
	t.Helper()
	var doc struct {
		Properties []struct {
			Name  string `xml:"name"`
			Value string `xml:"value"`
		} `xml:"property"`
	}
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("parse XML: %v", err)
	}
	m := map[string]string{}
	for _, p := range doc.Properties {
		m[p.Name] = p.Value
	}
	return m
}

// checkSameExcept: secure is plain with exactly the changes in changed.
func checkSameExcept(t *testing.T, what string, plain, secure, changed map[string]string) {
	t.Helper()
	if secure == nil {
		t.Errorf("%s: the secured variant mounts none", what)
		return
	}
	for k, v := range changed {
		if secure[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, secure[k], v)
		}
	}
	for k, v := range plain {
		if _, ok := changed[k]; !ok && secure[k] != v {
			t.Errorf("%s: %s is %q in the secured variant but %q in the plain one: keep them equal", what, k, secure[k], v)
		}
	}
	for k, v := range secure {
		if _, ok := plain[k]; !ok {
			if _, ok := changed[k]; !ok {
				t.Errorf("%s: %s=%s is only in the secured variant", what, k, v)
			}
		}
	}
}

// checkJVMTrust: the JVM trusts the trust store tls-init builds.
func checkJVMTrust(t *testing.T, name string, s composeService, layout tlsLayout) {
	t.Helper()
	opts := map[string]string{}
	for _, f := range strings.Fields(s.Environment["JAVA_TOOL_OPTIONS"]) {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "-D"), "=")
		opts[k] = v
	}
	if src := layout.source(t, s, opts["javax.net.ssl.trustStore"]); src != "truststore" {
		t.Errorf("%s: JAVA_TOOL_OPTIONS %q: javax.net.ssl.trustStore is not the trust store tls-init builds", name, s.Environment["JAVA_TOOL_OPTIONS"])
	}
	if opts["javax.net.ssl.trustStoreType"] != layout.trustStoreType {
		t.Errorf("%s: javax.net.ssl.trustStoreType %q, tls-init writes %q", name, opts["javax.net.ssl.trustStoreType"], layout.trustStoreType)
	}
}

// tlsLayout is what docker/secure/tls-init.sh writes to the tls volume:
// path on the volume -> the docker/certs file it copies, owner and mode.
type tlsLayout struct {
	files          map[string]tlsFile
	trustStoreType string
}

type tlsFile struct{ src, mode, owner string }

func tlsInitLayout(t *testing.T, p composeProject) tlsLayout {
	t.Helper()
	script := readDockerFile(t, "secure/tls-init.sh")
	job := p.Services["tls-init"]
	var out string
	in := map[string]bool{}
	for _, v := range job.Volumes {
		if v.Type == "volume" && v.Source == "tls" && !v.ReadOnly {
			out = v.Target
		}
		if v.Type == "bind" && filepath.Base(filepath.Dir(v.Source)) == "certs" {
			in[filepath.Base(v.Source)] = true
		}
	}
	if m := regexp.MustCompile(`(?m)^out=(\S+)$`).FindStringSubmatch(script); m == nil || m[1] != out {
		t.Fatalf("tls-init.sh writes to %v, but tls-init mounts the tls volume at %q", m, out)
	}
	l := tlsLayout{files: map[string]tlsFile{}}
	for _, m := range regexp.MustCompile(`(?m)^put "\$in/(\S+)" "\$out/(\S+)" (\d+) (\S+)$`).FindAllStringSubmatch(script, -1) {
		if !in[m[1]] {
			t.Errorf("tls-init.sh copies %s, which tls-init does not mount from docker/certs", m[1])
		}
		l.files[m[2]] = tlsFile{src: m[1], mode: m[3], owner: strings.Trim(m[4], `"`)}
	}
	ks := regexp.MustCompile(`-keystore "\$out/(\S+)" -storetype (\w+)`).FindStringSubmatch(script)
	if ks == nil {
		t.Fatal("tls-init.sh builds no trust store")
	}
	l.files[ks[1]] = tlsFile{src: "truststore", mode: "0444", owner: "0"}
	l.trustStoreType = ks[2]
	if len(l.files) < 5 {
		t.Fatalf("tls-init.sh: read only %v", l.files)
	}
	return l
}

// file is what tls-init put at path in service s, through its mount of the
// tls volume; the zero tlsFile when nothing is there.
func (l tlsLayout) file(t *testing.T, s composeService, p string) tlsFile {
	t.Helper()
	vol, rel := volumeAt(s, p)
	if vol != "tls" {
		return tlsFile{}
	}
	return l.files[rel]
}

// source is the docker/certs file tls-init copied to path p in service s,
// "truststore" for the trust store, or "" when none is there.
func (l tlsLayout) source(t *testing.T, s composeService, p string) string {
	t.Helper()
	return l.file(t, s, p).src
}

// volumeAt is the named volume holding container path p, and p relative to
// its mount point.
func volumeAt(s composeService, p string) (volume, rel string) {
	for _, v := range s.Volumes {
		if r, ok := strings.CutPrefix(p, v.Target+"/"); ok && v.Type == "volume" && p != "" {
			return v.Source, r
		}
	}
	return "", ""
}

// secretAt is the service's secret at container path p.
func secretAt(s composeService, p string) (composeSecretRef, bool) {
	for _, ref := range s.Secrets {
		if ref.path() == p {
			return ref, true
		}
	}
	return composeSecretRef{}, false
}

// mountedProperties reads the properties file bind-mounted at p.
func mountedProperties(t *testing.T, s composeService, p string) map[string]string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type == "bind" && v.Target == p {
			return parseProperties(readFile(t, v.Source))
		}
	}
	t.Errorf("no file is mounted at %s", p)
	return map[string]string{}
}

func trinoProperties(t *testing.T, p composeProject) map[string]string {
	t.Helper()
	return mountedProperties(t, p.Services["trino"], "/etc/trino/config.properties")
}

// certHosts are the --hosts the header of compose.secure.yml tells users
// to give silt stack certs.
func certHosts(t *testing.T) []string {
	t.Helper()
	m := regexp.MustCompile(`bin/silt stack certs --dir docker/certs --hosts (\S+)`).FindStringSubmatch(readDockerFile(t, "compose.secure.yml"))
	if m == nil {
		t.Fatal("compose.secure.yml does not say how to run silt stack certs")
	}
	return strings.Split(m[1], ",")
}

// generatedCerts is what `silt stack certs` writes, in a temp directory.
func generatedCerts(t *testing.T) *stack.CertFiles {
	t.Helper()
	pki, err := stack.GenerateCerts(t.TempDir(), certHosts(t))
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// certFilesOf lists the files of a CertFiles.
func certFilesOf(pki *stack.CertFiles) []string {
	var files []string
	v := reflect.ValueOf(*pki)
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i).String(); f != pki.Dir && f != "" {
			files = append(files, f)
		}
	}
	return files
}

// siltImageUID is the numeric user of docker/Dockerfile's final stage.
func siltImageUID(t *testing.T) string {
	t.Helper()
	user := ""
	for _, in := range parseDockerfile(t, filepath.Join(repoRoot(t), "docker", "Dockerfile")) {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if _, err := strconv.Atoi(uid); err != nil {
		t.Fatalf("docker/Dockerfile's USER %q is not numeric", user)
	}
	return uid
}

// configSecretFiles maps each SILT_*_FILE variable of silt's config to the
// variable of the secret it holds (SILT_S3_ACCESS_KEY_FILE ->
// SILT_S3_ACCESS_KEY), from the config's own struct tags.
func configSecretFiles() map[string]string {
	out := map[string]string{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
				walk(f.Type)
				continue
			}
			if target := f.Tag.Get("secretfile"); target != "" {
				secret, _ := typ.FieldByName(target)
				out[f.Tag.Get("env")] = secret.Tag.Get("env")
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}))
	return out
}

// loadSiltYAML is docker/silt.yaml as silt reads it, without environment.
func loadSiltYAML(t *testing.T) *config.Config {
	t.Helper()
	clearSiltEnv(t)
	cfg, err := config.Load(filepath.Join(repoRoot(t), "docker", "silt.yaml"))
	if err != nil {
		t.Fatalf("load docker/silt.yaml: %v", err)
	}
	return cfg
}

// clearSiltEnv unsets the developer's SILT_* variables for the test.
func clearSiltEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SILT_") {
			t.Setenv(k, "") // restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func readDockerFile(t *testing.T, rel string) string {
	t.Helper()
	return readFile(t, filepath.Join(repoRoot(t), "docker", filepath.FromSlash(rel)))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
