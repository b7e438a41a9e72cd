package lake

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/silt-etl/silt/internal/awscreds"
	"github.com/silt-etl/silt/internal/tlscause"
)

// ExplainS3Error says in plain words what an error from NewS3, an S3
// store's methods or minio-go means, and which setting fixes it, e.g.
// "the secret key does not match the access key (lake.s3.secret_key /
// SILT_S3_SECRET_KEY)". It returns "" when it does not recognise err. The
// errors NewS3 and S3 return already carry this explanation in their
// message; ExplainS3Error is for showing the cause on its own.
func ExplainS3Error(err error) string {
	if err == nil {
		return ""
	}
	var se *s3Error
	if errors.As(err, &se) {
		return explain(err, se.why)
	}
	return explain(err, nil)
}

// errContext is what an S3 store knows when it explains an error.
type errContext struct {
	endpoint string
	bucket   string
	secure   bool
	sse      string
	static   bool          // static keys, not the credential chain
	source   func() string // the credential chain's source, once known
}

// s3Error is an S3 store's error: what was being done, the cause in plain
// words when it is recognised, and the error itself, without secrets.
type s3Error struct {
	op     string
	err    error
	why    *errContext
	redact func(string) string
}

func (e *s3Error) Error() string {
	msg := e.op + ": "
	if x := explain(e.err, e.why); x != "" {
		msg += x + ": "
	}
	return e.redact(msg + rawMessage(e.err))
}

func (e *s3Error) Unwrap() error { return e.err }

// Permanent tells the scheduler (which looks for this method) that the
// store is misconfigured: wrong or missing credentials, an untrusted
// certificate, the wrong scheme, a missing bucket or KMS key. Retrying
// the job cannot fix those until someone does; it holds the job off.
// Other client errors stay retryable at the job's level.
func (e *s3Error) Permanent() bool { return misconfigured(e.err) }

// misconfiguredCodes are the S3 error codes that mean the configuration
// (credentials, bucket, KMS key, clock) is wrong.
var misconfiguredCodes = map[string]bool{
	"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "AccessDenied": true,
	"RequestTimeTooSkewed": true, "NoSuchBucket": true, "InvalidToken": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "KMSNotConfigured": true,
	"AuthorizationHeaderMalformed": true, "InvalidRegion": true, "InvalidBucketName": true,
}

func misconfigured(err error) bool {
	if errors.Is(err, awscreds.ErrNoCredentials) || errors.Is(err, awscreds.ErrNoSecretKey) {
		return true
	}
	if errors.Is(err, errSpeaksTLS) || errors.Is(err, http.ErrSchemeMismatch) || badTLS(err) {
		return true
	}
	var er minio.ErrorResponse
	return errors.As(err, &er) && (misconfiguredCodes[er.Code] || strings.HasPrefix(er.Code, "KMS."))
}

func (s *S3) fail(op string, err error) error {
	return &s3Error{op: op, err: err, why: s.why, redact: s.rec.redact}
}

// redactedError hides known secrets from an error's text, also where
// withRetry logs it between attempts.
type redactedError struct {
	err    error
	redact func(string) string
}

func (e *redactedError) Error() string { return e.redact(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// retry is withRetry for S3 calls: errors a retry cannot fix (credentials,
// permissions, certificates, the wrong scheme, a missing bucket) end it at
// once, and an expired token from the credential chain is refreshed.
func (s *S3) retry(ctx context.Context, what string, op func() error) error {
	var last error // the last error that was not the context's
	err := withRetry(ctx, s.log, what, func() error {
		err := op()
		var perm permanentError
		if err == nil || errors.As(err, &perm) {
			return err
		}
		err = &redactedError{err: err, redact: s.rec.redact}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		var er minio.ErrorResponse
		if errors.As(err, &er) && (er.Code == "ExpiredToken" || er.Code == "ExpiredTokenException") && !s.why.static {
			s.creds.Expire()
			return err
		}
		if permanentS3(err) {
			return permanent(err)
		}
		return err
	})
	if err != nil && ctx.Err() != nil && last != nil && !errors.Is(err, last) {
		// The context ended between attempts or during one: keep the
		// last real failure, which says what was wrong.
		err = &endedError{err: err, last: last}
	}
	return err
}

// endedError is a context error after failed attempts: it is both.
type endedError struct{ err, last error }

func (e *endedError) Error() string {
	msg, last := e.err.Error(), e.last.Error()
	if strings.Contains(msg, last) {
		return msg
	}
	return msg + " (the attempt before: " + last + ")"
}

func (e *endedError) Unwrap() []error { return []error{e.err, e.last} }

// permanentCodes are S3 error codes that a retry cannot fix, whatever
// their HTTP status.
var permanentCodes = map[string]bool{
	"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "AccessDenied": true,
	"RequestTimeTooSkewed": true, "NoSuchBucket": true, "InvalidBucketName": true,
	"AuthorizationHeaderMalformed": true, "InvalidRegion": true, "InvalidToken": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "NotImplemented": true,
	"KMS.NotFoundException": true, "KMS.DisabledException": true, "KMS.KMSInvalidStateException": true,
	"KMSNotConfigured": true, "InvalidArgument": true, "InvalidRequest": true,
}

// permanentS3 reports whether err is an authentication or configuration
// error, which a retry cannot fix.
func permanentS3(err error) bool {
	if errors.Is(err, awscreds.ErrNoCredentials) || errors.Is(err, awscreds.ErrNoSecretKey) {
		return true
	}
	if errors.Is(err, errSpeaksTLS) || errors.Is(err, http.ErrSchemeMismatch) || badTLS(err) {
		return true
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	if permanentCodes[er.Code] || strings.HasPrefix(er.Code, "KMS.") {
		return true
	}
	switch er.StatusCode {
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests, 499:
		return false
	}
	switch er.Code {
	case "RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled":
		return false
	}
	// Any other client error: the same request gets the same answer.
	return er.StatusCode >= 400 && er.StatusCode < 500
}

// explain is ExplainS3Error with what the store knows (c may be nil).
func explain(err error, c *errContext) string {
	if c == nil {
		c = &errContext{}
	}
	tlsCause := tlscause.Of(err)
	switch {
	case errors.Is(err, awscreds.ErrNoSecretKey):
		return "lake.s3.access_key is set but lake.s3.secret_key is empty (SILT_S3_SECRET_KEY or lake.s3.secret_key_file)"
	case errors.Is(err, awscreds.ErrNoCredentials):
		return "no credentials were found: set lake.s3.access_key and lake.s3.secret_key (SILT_S3_ACCESS_KEY / SILT_S3_SECRET_KEY), " +
			"or give the credential chain a source: AWS_ACCESS_KEY_ID, a shared credentials file (lake.s3.profile), " +
			"web identity (AWS_WEB_IDENTITY_TOKEN_FILE with lake.s3.sts_endpoint) or container/instance metadata"
	case errors.Is(err, errSpeaksTLS):
		return "the endpoint speaks https: set lake.s3.secure: true (SILT_S3_SECURE=true)"
	case errors.Is(err, http.ErrSchemeMismatch) || tlsCause.Kind == tlscause.NotTLS:
		return "the endpoint speaks plain http but lake.s3.secure is true (set lake.s3.secure: false / SILT_S3_SECURE=false, or use its https port)"
	}
	if x := explainCertificate(tlsCause); x != "" {
		return x
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return explainResponse(er, c)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("nothing listens at %s (lake.s3.endpoint / SILT_S3_ENDPOINT)", hostPort(err, c))
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		msg := fmt.Sprintf("the host name %s does not resolve (lake.s3.endpoint / SILT_S3_ENDPOINT)", dns.Name)
		if c.bucket != "" && strings.HasPrefix(dns.Name, c.bucket+".") {
			msg += "; the bucket is in the host name (virtual-host style): for MinIO set lake.s3.path_style: true"
		}
		return msg
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Timeout() {
		return fmt.Sprintf("%s did not answer in time (lake.s3.endpoint / SILT_S3_ENDPOINT: the wrong address or port, or a firewall)", hostPort(err, c))
	}
	return ""
}

func explainResponse(er minio.ErrorResponse, c *errContext) string {
	bucket := er.BucketName
	if bucket == "" {
		bucket = c.bucket
	}
	switch er.Code {
	case "SignatureDoesNotMatch":
		if c.static || c.source == nil {
			return "the secret key does not match the access key (lake.s3.secret_key / SILT_S3_SECRET_KEY)"
		}
		return "the secret key does not match the access key (they come from " + chainSource(c) + "; or set lake.s3.access_key and lake.s3.secret_key)"
	case "InvalidAccessKeyId":
		return "the access key is unknown to the server (" + accessKeys(c) + ")"
	case "InvalidToken", "ExpiredToken", "ExpiredTokenException", "InvalidTokenId":
		if c.static {
			return "the session token is invalid or expired (lake.s3.session_token / SILT_S3_SESSION_TOKEN)"
		}
		return "the session token is invalid or expired (it comes from " + chainSource(c) + "; or set lake.s3.session_token)"
	case "AccessDenied":
		msg := "access to bucket " + bucket + " is denied to the credentials in use"
		if c.source != nil {
			if src := c.source(); src != "" {
				msg += " (" + src + ")"
			}
		}
		msg += ": grant them s3:ListBucket on the bucket and s3:GetObject, s3:PutObject, s3:DeleteObject on its objects"
		if c.sse == "kms" {
			msg += ", and kms:GenerateDataKey and kms:Decrypt on lake.s3.sse_kms_key_id"
		}
		return msg + ", or use others (lake.s3.access_key / SILT_S3_ACCESS_KEY)"
	case "RequestTimeTooSkewed":
		return "the clock differs from the server's by more than 15 minutes (fix the clock: S3 signatures are time-bound)"
	case "NoSuchBucket":
		return fmt.Sprintf("bucket %s does not exist (lake.s3.bucket, or lake.s3.create_bucket: true)", bucket)
	case "InvalidBucketName":
		return fmt.Sprintf("%q is not a valid bucket name (lake.s3.bucket)", bucket)
	case "AuthorizationHeaderMalformed", "InvalidRegion":
		msg := "the region does not match the bucket's (lake.s3.region / SILT_S3_REGION"
		if er.Region != "" {
			msg += ": the server expects " + er.Region
		}
		return msg + ")"
	}
	switch {
	case er.Code == "KMSNotConfigured" || strings.Contains(er.Message, "KMS is not configured"):
		return "the server has no KMS, so it cannot encrypt objects (lake.s3.sse / SILT_S3_SSE: leave it empty, or configure KMS on the server)"
	case strings.HasPrefix(er.Code, "KMS."):
		return "the KMS key is unknown to the server or unusable (lake.s3.sse_kms_key_id / SILT_S3_SSE_KMS_KEY_ID)"
	case er.StatusCode == http.StatusBadRequest &&
		(strings.Contains(er.Message, "HTTP request to an HTTPS server") || strings.Contains(er.Message, "plain HTTP request was sent to HTTPS port")):
		return "the endpoint speaks https: set lake.s3.secure: true (SILT_S3_SECURE=true)"
	}
	return ""
}

func accessKeys(c *errContext) string {
	if c.static {
		return "lake.s3.access_key / SILT_S3_ACCESS_KEY"
	}
	return "lake.s3.access_key, or " + chainSource(c)
}

func chainSource(c *errContext) string {
	if c.source != nil {
		if src := c.source(); src != "" {
			return "the credential chain's source: " + src
		}
	}
	return "the credential chain's source"
}

// explainCertificate explains a failed verification of the server's
// certificate.
func explainCertificate(c tlscause.Cause) string {
	switch c.Kind {
	case tlscause.UnknownAuthority:
		return "the server's certificate is not signed by a trusted CA (lake.s3.ca_file / SILT_S3_CA_FILE)"
	case tlscause.HostnameMismatch:
		return fmt.Sprintf("the server's certificate is not valid for %s: it lists %s (lake.s3.endpoint must be one of them)", c.Host, orNothing(c.Names))
	case tlscause.Expired:
		return "the server's certificate has expired or is not yet valid (renew it, or fix the clock)"
	case tlscause.InvalidCertificate:
		return "the server's certificate is invalid: " + c.Err.Error()
	case tlscause.VerificationFailed:
		return "the server's certificate was rejected (lake.s3.ca_file / SILT_S3_CA_FILE): " + c.Err.Error()
	}
	return ""
}

// badTLS reports a rejected server certificate or an endpoint that does
// not speak TLS: a retry cannot fix either.
func badTLS(err error) bool {
	c := tlscause.Of(err)
	return c.ServerCertificate() || c.Kind == tlscause.NotTLS
}

// errSpeaksTLS marks a plain http request that a TLS endpoint cut off.
var errSpeaksTLS = errors.New("the endpoint answers a TLS handshake")

// connectionCut reports a connection closed or reset under a request.
func connectionCut(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// speaksTLS reports whether endpoint completes a TLS handshake. It only
// diagnoses: nothing is sent over the connection.
func speaksTLS(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a diagnostic handshake, no data
	conn, err := d.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func orNothing(names []string) string {
	if len(names) == 0 {
		return "no names"
	}
	return strings.Join(names, ", ")
}

// hostPort is the address an error was about.
func hostPort(err error, c *errContext) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return op.Addr.String()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return u.Host
		}
	}
	if c.endpoint != "" {
		return c.endpoint
	}
	return "the endpoint"
}

// rawMessage is err's text, with the S3 error code in front when minio-go
// left it out.
func rawMessage(err error) string {
	msg := err.Error()
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" && !strings.Contains(msg, er.Code) {
		if text := er.Error(); text != "" && strings.Contains(msg, text) {
			return strings.Replace(msg, text, er.Code+": "+text, 1)
		}
		msg = er.Code + ": " + msg
	}
	return msg
}

// recordingProvider remembers the secrets it hands out so that no error
// text can show them.
type recordingProvider struct {
	*awscreds.Provider
	mu      sync.Mutex
	secrets []string
}

func (r *recordingProvider) Retrieve() (credentials.Value, error) {
	return r.RetrieveWithCredContext(nil)
}

func (r *recordingProvider) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	v, err := r.Provider.RetrieveWithCredContext(cc)
	if err == nil {
		r.remember(v.SecretAccessKey, v.SessionToken)
	}
	return v, err
}

func (r *recordingProvider) remember(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		// Short strings would blank out ordinary words; S3 secrets are longer.
		if len(s) < 6 || contains(r.secrets, s) {
			continue
		}
		r.secrets = append(r.secrets, s)
		if len(r.secrets) > 8 {
			r.secrets = r.secrets[1:]
		}
	}
}

func (r *recordingProvider) redact(msg string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
