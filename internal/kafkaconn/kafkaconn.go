// Package kafkaconn turns silt's Kafka connection settings (TLS, mTLS and
// SASL) into franz-go client options, so every client silt makes (ingest,
// collector, generator, topic admin, lag reads) connects the same way. The
// authentication itself is franz-go's own pkg/sasl/*.
package kafkaconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/silt-etl/silt/internal/tlscause"
	"github.com/silt-etl/silt/internal/trustroots"
)

// Options are how to reach and authenticate to Kafka.
type Options struct {
	TLS  TLS
	SASL SASL
	// AWSCredentials supplies aws-msk-iam's keys; it is called for each
	// new connection, so temporary credentials are refreshed.
	AWSCredentials func(ctx context.Context) (accessKey, secretKey, sessionToken string, err error)
}

// TLS is the client's TLS; the zero value is plaintext.
type TLS struct {
	Enabled            bool
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool
	ServerName         string
}

// SASL is the client's authentication; an empty Mechanism is none.
type SASL struct {
	Mechanism          string
	Username, Password string
	TokenFile          string
}

// ClientOpts are the franz-go options that secure a client: a TLS dialer
// and the SASL mechanism. Append them to every kgo.NewClient.
func (o Options) ClientOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if o.TLS.Enabled {
		cfg, err := o.TLS.config()
		if err != nil {
			return nil, err
		}
		// A dial timeout of its own: a TLS handshake with a port that never
		// answers would otherwise wait for the request's whole timeout.
		opts = append(opts, kgo.DialTLSConfig(cfg), kgo.DialTimeout(10*time.Second))
	}
	if o.SASL.Mechanism != "" {
		m, err := o.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (t TLS) config() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the user's explicit, warned choice
	}
	if t.CAFile != "" {
		roots, err := trustroots.WithCAFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		cfg.RootCAs = roots
	}
	if t.CertFile != "" || t.KeyFile != "" {
		// Loaded now, so a bad pair fails at start-up with the key's name.
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file and kafka.tls.key_file: %w", err)
		}
		certs := &reloadingKeyPair{certFile: t.CertFile, keyFile: t.KeyFile}
		cfg.GetClientCertificate = certs.get
	}
	return cfg, nil
}

// reloadingKeyPair reads the client certificate again when its file
// changes, so a renewed certificate (cert-manager, Vault) is used by the
// next connection without a restart.
type reloadingKeyPair struct {
	certFile, keyFile string
	mu                sync.Mutex
	modTime           time.Time
	cert              *tls.Certificate
}

func (r *reloadingKeyPair) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
	}
	if r.cert == nil || !fi.ModTime().Equal(r.modTime) {
		c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file and kafka.tls.key_file: %w", err)
		}
		r.cert, r.modTime = &c, fi.ModTime()
	}
	return r.cert, nil
}

func (o Options) mechanism() (sasl.Mechanism, error) {
	s := o.SASL
	switch s.Mechanism {
	case "plain":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	case "oauthbearer":
		tok := &tokenFile{path: s.TokenFile}
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			t, err := tok.read()
			return oauth.Auth{Token: t}, err
		}), nil
	case "aws-msk-iam":
		if o.AWSCredentials == nil {
			return nil, errors.New("kafka.sasl.mechanism aws-msk-iam: no AWS credential source was wired")
		}
		return aws.ManagedStreamingIAM(func(ctx context.Context) (aws.Auth, error) {
			ak, sk, st, err := o.AWSCredentials(ctx)
			if err != nil {
				return aws.Auth{}, fmt.Errorf("aws-msk-iam credentials: %w", err)
			}
			return aws.Auth{AccessKey: ak, SecretKey: sk, SessionToken: st, UserAgent: "silt"}, nil
		}), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism %q: use plain, scram-sha-256, scram-sha-512, aws-msk-iam or oauthbearer", s.Mechanism)
}

// tokenFile is an OAUTHBEARER token kept in a file that a sidecar rewrites
// before it expires: it is read again whenever the file changes.
type tokenFile struct {
	path    string
	mu      sync.Mutex
	modTime time.Time
	size    int64
	token   string
}

func (f *tokenFile) read() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.token_file: %w", err)
	}
	if f.token != "" && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.token, nil
	}
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.token_file: %w", err)
	}
	tok := string(bytes.TrimSpace(raw))
	if tok == "" {
		return "", fmt.Errorf("kafka.sasl.token_file: %s is empty", f.path)
	}
	f.token, f.modTime, f.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}

// Explain says in plain words why a Kafka connection failed and which
// config key fixes it, or "" when err is not one it recognises.
func Explain(err error) string {
	cause, _ := diagnose(err)
	return cause
}

// diagnose is Explain's cause, and whether it is a misconfiguration (a
// refused login, an untrusted or rejected certificate, TLS or SASL the
// listener does not speak) rather than a broker that is down or slow.
func diagnose(err error) (cause string, misconfigured bool) {
	if err == nil {
		return "", false
	}
	var opErr *net.OpError
	msg := err.Error()
	switch {
	case strings.Contains(msg, "is TLS missing") || strings.Contains(msg, "plaintext connection speaking to a tls endpoint"):
		return "the broker's listener expects TLS: set kafka.tls.enabled: true (SILT_KAFKA_TLS_ENABLED) and kafka.tls.ca_file, or use a plaintext listener's port in kafka.brokers", true
	case strings.Contains(msg, "is SASL missing"):
		return "the broker's listener expects SASL: set kafka.sasl.mechanism, kafka.sasl.username and kafka.sasl.password", true
	case strings.Contains(msg, "SASL_AUTHENTICATION_FAILED"):
		return "Kafka refused the SASL credentials: check kafka.sasl.username and kafka.sasl.password (SILT_KAFKA_SASL_PASSWORD) and kafka.sasl.mechanism", true
	case strings.Contains(msg, "UNSUPPORTED_SASL_MECHANISM"):
		return "the broker's listener does not enable this SASL mechanism: check kafka.sasl.mechanism against the listener's sasl.enabled.mechanisms", true
	case strings.Contains(msg, "ILLEGAL_SASL_STATE"):
		return "the broker's listener does not expect SASL here: check kafka.brokers (the SASL listener's port) and kafka.sasl.mechanism", true
	}
	if why, misconfigured := explainTLS(tlscause.Of(err)); why != "" {
		return why, misconfigured
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &opErr) && opErr.Op == "dial" && !opErr.Timeout()):
		return "nothing answers at the broker address: check kafka.brokers (SILT_KAFKA_BROKERS) and that Kafka is running", false
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return "the broker did not answer in time: TLS settings that do not match the listener (kafka.tls.enabled), a firewall, or a broker that is down (kafka.brokers)", false
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset"):
		return "the broker closed the connection at once: its listener likely expects TLS (kafka.tls.enabled) or SASL (kafka.sasl.mechanism), or the port is another listener's", false
	}
	return "", false
}

// explainTLS words a TLS failure with Kafka's config keys. A certificate
// this side rejected, or a port that does not speak TLS, is always a
// misconfiguration; an alert is one when the broker sent it.
func explainTLS(c tlscause.Cause) (why string, misconfigured bool) {
	switch c.Kind {
	case tlscause.UnknownAuthority:
		return "the broker's certificate is not signed by a trusted CA: set kafka.tls.ca_file (SILT_KAFKA_TLS_CA_FILE) to the CA that signed it", true
	case tlscause.HostnameMismatch:
		return "the broker's certificate is for another name: check kafka.brokers, or set kafka.tls.server_name", true
	case tlscause.Expired:
		return "the broker's certificate has expired (or this machine's clock is wrong)", true
	case tlscause.InvalidCertificate:
		return "the broker's certificate is not valid for this client: check kafka.tls.ca_file and kafka.tls.server_name", true
	case tlscause.NotTLS:
		return "the broker's port does not speak TLS: use the TLS listener's port in kafka.brokers, or set kafka.tls.enabled: false", true
	case tlscause.ClientCertExpired:
		return "the broker refused the client certificate as expired: renew kafka.tls.cert_file", c.Remote
	case tlscause.ClientCertRejected:
		return "the broker refused the client certificate (missing, expired, or not signed by a CA it trusts): check kafka.tls.cert_file and kafka.tls.key_file", c.Remote
	case tlscause.VerificationFailed, tlscause.HandshakeFailed:
		return "the TLS handshake with the broker failed: check kafka.tls.* and that kafka.brokers names the TLS listener", c.Remote
	}
	return "", false
}

// Check connects with opts (which must include the seed brokers), reads
// the cluster's metadata and describes the consumer group: what `silt
// check` reports for Kafka. detail says what was found.
func Check(ctx context.Context, group string, opts ...kgo.Opt) (detail string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.RequestRetries(2)}, opts...)...)
	if err != nil {
		return "", fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return "", fmt.Errorf("read cluster metadata: %w", err)
	}
	groups, err := adm.DescribeGroups(ctx, group)
	if err == nil {
		err = groups[group].Err
	}
	if errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.CoordinatorLoadInProgress) || errors.Is(err, kerr.GroupIDNotFound) {
		// A group silt has not joined yet: Kafka 4 says the id is unknown,
		// and a fresh cluster makes __consumer_offsets (the coordinator)
		// on the first group request. Neither is a failure.
		return fmt.Sprintf("%d broker(s), group %s not yet created (its coordinator starts on first use)", len(brokers), group), nil
	}
	if err != nil {
		return "", fmt.Errorf("describe consumer group %s: %w", group, err)
	}
	g := groups[group]
	state := g.State
	if state == "" || state == "Dead" {
		state = "not yet created"
	}
	return fmt.Sprintf("%d broker(s), group %s %s with %d member(s)", len(brokers), group, strings.ToLower(state), len(g.Members)), nil
}

// Preflight asks the cluster for its metadata once. franz-go retries a
// refused login or a failed handshake inside produce and fetch calls until
// their own deadlines, which looks like a silent hang; one metadata
// request returns the real cause at once, explained.
func Preflight(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	_, err := req.RequestWith(ctx, cl)
	if err == nil {
		return nil
	}
	why, misconfigured := diagnose(err)
	return &ConnectError{err: err, why: why, misconfigured: misconfigured}
}

// ConnectError is a failed connection with its explanation.
type ConnectError struct {
	err           error
	why           string
	misconfigured bool
}

func (e *ConnectError) Error() string {
	if e.why == "" {
		return "connect to kafka: " + e.err.Error()
	}
	return "connect to kafka: " + e.err.Error() + ": " + e.why
}

func (e *ConnectError) Unwrap() error { return e.err }

// Permanent tells the scheduler (which looks for this method) that the
// connection is misconfigured, not down: a refused login, an untrusted
// or rejected certificate, TLS or SASL that the listener does not speak.
// Retrying cannot fix those until someone changes the config.
func (e *ConnectError) Permanent() bool { return e.misconfigured }
