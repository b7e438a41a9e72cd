// Package awscreds finds AWS credentials the way AWS tools do: static keys
// when configured, else a chain of the environment, the shared credentials
// file, web identity, container credentials and EC2 instance metadata. It is
// built on minio-go's credentials providers (the lake signs S3 requests with
// it; Kafka's aws-msk-iam SASL signs with it too) and never puts a secret
// in an error or a description.
package awscreds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Options configure the chain. Every field may be empty.
type Options struct {
	// AccessKey and SecretKey are static keys; when AccessKey is set the
	// chain is not consulted.
	AccessKey    string
	SecretKey    string
	SessionToken string
	// Profile is the shared credentials file's profile (default: AWS_PROFILE,
	// else "default"). When it is set and the profile cannot be read, the
	// chain stops there rather than falling through to other sources.
	Profile string
	// STSEndpoint is where web identity tokens are exchanged for temporary
	// keys (default: AWS STS, regional when AWS_REGION is set).
	STSEndpoint string
	// HTTPClient makes the STS and metadata requests (a private CA goes in
	// its Transport). Nil: a client with a 15 s timeout. Metadata requests
	// are bounded to 3 s whatever the client's timeout.
	HTTPClient *http.Client
}

var (
	// ErrNoCredentials is wrapped by the error of a chain in which no
	// source had credentials; the message lists what each source said.
	ErrNoCredentials = errors.New("no AWS credentials found")
	// ErrNoSecretKey is returned when an access key is configured without
	// its secret key.
	ErrNoSecretKey = errors.New("an access key is set but the secret key is empty")
)

const (
	stsTimeout      = 15 * time.Second
	metadataTimeout = 3 * time.Second
	// refreshEvery re-reads credentials that carry no expiry (the
	// environment, the shared file) so rotated keys are picked up.
	refreshEvery = 5 * time.Minute
)

// New returns credentials for minio-go (or any signer) backed by a Provider.
func New(o Options) *credentials.Credentials {
	return credentials.New(NewProvider(o))
}

// Provider is a credentials.Provider that resolves o in order and
// remembers which source answered.
type Provider struct {
	o Options

	mu        sync.Mutex
	curr      credentials.Provider // the source of the last good retrieval
	source    string               // its description
	refreshAt time.Time            // for sources without an expiry
	noExpiry  bool                 // static keys
}

// NewProvider returns the chain for o.
func NewProvider(o Options) *Provider { return &Provider{o: o} }

// Source describes where the last retrieved credentials came from, e.g.
// `shared credentials file ~/.aws/credentials, profile "prod", access key …WXYZ`;
// empty before the first successful retrieval.
func (p *Provider) Source() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.source
}

// Static reports whether the credentials are static keys from Options.
func (p *Provider) Static() bool { return p.o.AccessKey != "" || p.o.SecretKey != "" }

// Retrieve implements credentials.Provider.
func (p *Provider) Retrieve() (credentials.Value, error) { return p.RetrieveWithCredContext(nil) }

// IsExpired implements credentials.Provider.
func (p *Provider) IsExpired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.noExpiry:
		return false
	case p.curr == nil:
		return true
	case !p.refreshAt.IsZero():
		return time.Now().After(p.refreshAt)
	}
	return p.curr.IsExpired()
}

// RetrieveWithCredContext implements credentials.Provider. cc supplies
// only the caller's context: requests use Options.HTTPClient.
func (p *Provider) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	if p.Static() {
		if p.o.SecretKey == "" {
			return credentials.Value{}, ErrNoSecretKey
		}
		if p.o.AccessKey == "" {
			return credentials.Value{}, errors.New("a secret key is set but the access key is empty")
		}
		p.set(nil, "static keys"+keyHint(p.o.AccessKey), time.Time{}, true)
		return credentials.Value{
			AccessKeyID:     p.o.AccessKey,
			SecretAccessKey: p.o.SecretKey,
			SessionToken:    p.o.SessionToken,
			SignerType:      credentials.SignatureV4,
		}, nil
	}
	// The providers use our client (a private CA, bounded timeouts), and
	// the caller's context for cancellation.
	own := &credentials.CredContext{Client: p.client()}
	if cc != nil {
		own.Context = cc.Context
	}
	var why []string
	for _, s := range p.sources() {
		if s.skip != "" {
			why = append(why, s.name+": "+s.skip)
			continue
		}
		v, err := s.p.RetrieveWithCredContext(own)
		if err == nil && (v.AccessKeyID == "" || v.SecretAccessKey == "") {
			err = errors.New(s.incomplete)
		}
		if err != nil {
			why = append(why, s.name+": "+hideLine(err.Error()))
			if s.final {
				break
			}
			continue
		}
		var refreshAt time.Time
		if v.Expiration.IsZero() {
			refreshAt = time.Now().Add(refreshEvery)
		}
		p.set(s.p, s.name+keyHint(v.AccessKeyID), refreshAt, false)
		return v, nil
	}
	p.set(nil, "", time.Time{}, false)
	return credentials.Value{}, fmt.Errorf("%w: %s", ErrNoCredentials, strings.Join(why, "; "))
}

func (p *Provider) set(curr credentials.Provider, source string, refreshAt time.Time, noExpiry bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.curr, p.source, p.refreshAt, p.noExpiry = curr, source, refreshAt, noExpiry
}

// source is one link of the chain as the environment now configures it.
type source struct {
	name       string
	p          credentials.Provider
	skip       string // why it is not tried (not configured)
	incomplete string // what it means when it yields no keys
	final      bool   // its failure ends the chain
}

// sources builds the chain from the environment at the time of the call,
// so that web identity or container variables set later are honoured.
func (p *Provider) sources() []source {
	profile := p.o.Profile
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	out := []source{{
		name:       "environment (AWS_ACCESS_KEY_ID)",
		p:          &credentials.EnvAWS{},
		incomplete: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not both set",
	}}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_ACCESS_KEY") == "" {
		out[0].skip = "AWS_ACCESS_KEY_ID not set"
	}
	out = append(out, source{
		name:       sharedFileName(profile),
		p:          &credentials.FileAWSCredentials{Profile: profile},
		incomplete: "the profile has no aws_access_key_id and aws_secret_access_key",
		// A profile asked for by name is what the user wants: falling
		// through to instance metadata would sign as someone else.
		final: profile != "",
	})
	out = append(out, p.iamSource())
	return out
}

// iamSource is minio-go's IAM provider, which serves web identity,
// container credentials or EC2 instance metadata depending on the
// environment. Its Endpoint means the STS endpoint, the container endpoint
// or the metadata endpoint respectively, so it is set per case here.
func (p *Provider) iamSource() source {
	base := p.client()
	metadata := *base
	if metadata.Timeout == 0 || metadata.Timeout > metadataTimeout {
		metadata.Timeout = metadataTimeout
	}
	iam := &credentials.IAM{Client: &metadata}
	s := source{p: iam, incomplete: "no keys in the answer", final: true}
	switch {
	case os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
		iam.Client = base
		iam.Endpoint = p.o.STSEndpoint
		sts := p.o.STSEndpoint
		if sts == "" {
			sts = "AWS STS"
		}
		s.name = fmt.Sprintf("web identity (token file %s, role %s, exchanged at %s)",
			os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), orNone(os.Getenv("AWS_ROLE_ARN")), sts)
	case os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "":
		s.name = "container credentials (" + credentials.DefaultECSRoleEndpoint + os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") + ")"
	case os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
		s.name = "container credentials (" + os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") + ")"
	default:
		endpoint := os.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
		iam.Endpoint = strings.TrimSuffix(endpoint, "/")
		if endpoint == "" {
			endpoint = credentials.DefaultIAMRoleEndpoint
		}
		s.name = "EC2 instance metadata (" + endpoint + ")"
		if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
			s.name = "EC2 instance metadata"
			s.skip = "disabled by AWS_EC2_METADATA_DISABLED"
		}
	}
	return s
}

func (p *Provider) client() *http.Client {
	if p.o.HTTPClient != nil {
		return p.o.HTTPClient
	}
	return defaultClient
}

var defaultClient = &http.Client{Timeout: stsTimeout}

// hideLine drops the offending line from a parse error of the shared
// credentials file (the ini package quotes it, and it may hold a key).
func hideLine(msg string) string {
	for _, prefix := range []string{"key-value delimiter not found", "empty key name", "missing closing key quote", "unclosed section"} {
		if i := strings.Index(msg, prefix); i >= 0 {
			return msg[:i] + prefix + " (the line is not shown: it may hold a secret)"
		}
	}
	return msg
}

func sharedFileName(profile string) string {
	file := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if file == "" {
		file = filepath.Join("~", ".aws", "credentials")
	}
	if profile == "" {
		profile = "default"
	}
	return fmt.Sprintf("shared credentials file %s, profile %q", file, profile)
}

// keyHint names an access key by its last four characters, as the AWS CLI
// does; the secret key is never shown.
func keyHint(accessKey string) string {
	if len(accessKey) <= 4 {
		return ", access key ****"
	}
	return ", access key …" + accessKey[len(accessKey)-4:]
}

func orNone(s string) string {
	if s == "" {
		return "(none: AWS_ROLE_ARN not set)"
	}
	return s
}

// Describe says which source the credentials for o come from, retrieving
// them once (which may call STS or a metadata endpoint, bounded by their
// timeouts and ctx), or why none was found. It never includes a secret.
func Describe(ctx context.Context, o Options) string {
	p := NewProvider(o)
	_, err := p.RetrieveWithCredContext(&credentials.CredContext{Context: ctx})
	if err != nil {
		return "no usable credentials: " + err.Error()
	}
	return p.Source()
}
