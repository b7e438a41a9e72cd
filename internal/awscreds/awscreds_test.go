package awscreds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// isolate clears every AWS variable the chain reads, points HOME and the
// shared files at an empty temp directory (a developer's ~/.aws must not
// leak in) and the EC2 metadata endpoint at a closed loopback port.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+closedPort(t))
	return dir
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func get(t *testing.T, o Options) (credentials.Value, *Provider, error) {
	t.Helper()
	p := NewProvider(o)
	done := make(chan struct{})
	var v credentials.Value
	var err error
	go func() {
		defer close(done)
		v, err = credentials.New(p).GetWithContext(&credentials.CredContext{Context: context.Background()})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("credential retrieval hangs")
	}
	return v, p, err
}

const twoProfiles = `[default]
aws_access_key_id = FILEDEFAULTKEY
aws_secret_access_key = file-default-secret

[prod]
aws_access_key_id = FILEPRODKEY
aws_secret_access_key = file-prod-secret
aws_session_token = file-prod-token
`

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeSTS answers AssumeRoleWithWebIdentity with the XML AWS STS returns,
// recording the form it received.
type fakeSTS struct {
	*httptest.Server
	calls atomic.Int32
	form  atomic.Pointer[map[string]string]
}

func newFakeSTS(t *testing.T) *fakeSTS {
	t.Helper()
	f := &fakeSTS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got := map[string]string{}
		for k := range r.PostForm {
			got[k] = r.PostForm.Get(k)
		}
		f.form.Store(&got)
		if got["WebIdentityToken"] != "the-web-identity-token" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>token rejected</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:silt:silt</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/silt/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <SessionToken>sts-session-token</SessionToken>
      <SecretAccessKey>sts-secret-key</SecretAccessKey>
      <Expiration>%s</Expiration>
      <AccessKeyId>ASIASTSKEY</AccessKeyId>
    </Credentials>
    <Provider>www.example.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(f.Close)
	return f
}

func webIdentityEnv(t *testing.T, dir string) {
	t.Helper()
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", writeFile(t, filepath.Join(dir, "token"), "the-web-identity-token"))
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/silt")
}

func TestStaticKeysBeatEverything(t *testing.T) {
	dir := isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, filepath.Join(dir, "credentials"), twoProfiles))
	webIdentityEnv(t, dir)
	sts := newFakeSTS(t)

	v, p, err := get(t, Options{AccessKey: "STATICKEY1234", SecretKey: "static-secret", SessionToken: "static-token", STSEndpoint: sts.URL})
	if err != nil {
		t.Fatal(err)
	}
	if v.AccessKeyID != "STATICKEY1234" || v.SecretAccessKey != "static-secret" || v.SessionToken != "static-token" {
		t.Fatalf("got %+v, want the static keys", v)
	}
	if got := p.Source(); got != "static keys, access key …1234" {
		t.Errorf("Source() = %q", got)
	}
	if sts.calls.Load() != 0 {
		t.Errorf("STS was called %d times with static keys configured", sts.calls.Load())
	}
}

func TestEnvironmentBeatsSharedFile(t *testing.T) {
	dir := isolate(t)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, filepath.Join(dir, "credentials"), twoProfiles))
	t.Setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_SESSION_TOKEN", "env-token")

	v, p, err := get(t, Options{Profile: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if v.AccessKeyID != "ENVKEY" || v.SecretAccessKey != "env-secret" || v.SessionToken != "env-token" {
		t.Fatalf("got %+v, want the environment's keys", v)
	}
	if !strings.HasPrefix(p.Source(), "environment") {
		t.Errorf("Source() = %q", p.Source())
	}
}

func TestSharedFileChoosesProfileAndBeatsWebIdentity(t *testing.T) {
	dir := isolate(t)
	file := writeFile(t, filepath.Join(dir, "credentials"), twoProfiles)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", file)
	webIdentityEnv(t, dir)
	sts := newFakeSTS(t)

	for _, tc := range []struct {
		name, profile, awsProfile, key, secret, token string
	}{
		{"default profile", "", "", "FILEDEFAULTKEY", "file-default-secret", ""},
		{"Profile option", "prod", "", "FILEPRODKEY", "file-prod-secret", "file-prod-token"},
		{"AWS_PROFILE", "", "prod", "FILEPRODKEY", "file-prod-secret", "file-prod-token"},
		{"Profile option beats AWS_PROFILE", "default", "prod", "FILEDEFAULTKEY", "file-default-secret", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tc.awsProfile)
			v, p, err := get(t, Options{Profile: tc.profile, STSEndpoint: sts.URL})
			if err != nil {
				t.Fatal(err)
			}
			if v.AccessKeyID != tc.key || v.SecretAccessKey != tc.secret || v.SessionToken != tc.token {
				t.Fatalf("got %+v, want %s/%s/%s", v, tc.key, tc.secret, tc.token)
			}
			if !strings.HasPrefix(p.Source(), "shared credentials file "+file) {
				t.Errorf("Source() = %q", p.Source())
			}
		})
	}
	if sts.calls.Load() != 0 {
		t.Errorf("STS was called %d times though the shared file had keys", sts.calls.Load())
	}
}

func TestWebIdentityExchangedAtSTSEndpoint(t *testing.T) {
	dir := isolate(t)
	webIdentityEnv(t, dir)
	t.Setenv("AWS_ROLE_SESSION_NAME", "silt-test")
	sts := newFakeSTS(t)

	v, p, err := get(t, Options{STSEndpoint: sts.URL})
	if err != nil {
		t.Fatal(err)
	}
	if v.AccessKeyID != "ASIASTSKEY" || v.SecretAccessKey != "sts-secret-key" || v.SessionToken != "sts-session-token" {
		t.Fatalf("got %+v, want the keys STS returned", v)
	}
	form := *sts.form.Load()
	for k, want := range map[string]string{
		"Action":           "AssumeRoleWithWebIdentity",
		"WebIdentityToken": "the-web-identity-token",
		"RoleArn":          "arn:aws:iam::123456789012:role/silt",
		"RoleSessionName":  "silt-test",
	} {
		if form[k] != want {
			t.Errorf("STS request %s = %q, want %q", k, form[k], want)
		}
	}
	if p.IsExpired() {
		t.Error("fresh STS credentials (1 h) already count as expired")
	}
	if !strings.Contains(p.Source(), "web identity") || !strings.Contains(p.Source(), sts.URL) || !strings.Contains(p.Source(), "…SKEY") {
		t.Errorf("Source() = %q", p.Source())
	}

	// A rejected token is an error naming the source, and the chain does
	// not fall through to instance metadata.
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", writeFile(t, filepath.Join(dir, "bad"), "another-token"))
	_, _, err = get(t, Options{STSEndpoint: sts.URL})
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "web identity") || !strings.Contains(err.Error(), "token rejected") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "EC2") {
		t.Errorf("web identity failure fell through to EC2 metadata: %v", err)
	}
}

func TestContainerCredentials(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "container-auth" {
			http.Error(w, "no auth", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "container-secret", "Token": "container-token",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	defer srv.Close()
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.URL+"/creds")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth")

	v, p, err := get(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.AccessKeyID != "ASIACONTAINER" || v.SessionToken != "container-token" {
		t.Fatalf("got %+v", v)
	}
	if !strings.HasPrefix(p.Source(), "container credentials ("+srv.URL) {
		t.Errorf("Source() = %q", p.Source())
	}
}

func TestEC2InstanceMetadata(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			fmt.Fprint(w, "imds-token")
		case r.Header.Get("X-aws-ec2-metadata-token") != "imds-token":
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			fmt.Fprint(w, "silt-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/silt-role":
			_ = json.NewEncoder(w).Encode(map[string]any{
				"Code": "Success", "AccessKeyId": "ASIAEC2KEY", "SecretAccessKey": "ec2-secret", "Token": "ec2-token",
				"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)

	v, p, err := get(t, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.AccessKeyID != "ASIAEC2KEY" || v.SessionToken != "ec2-token" {
		t.Fatalf("got %+v", v)
	}
	if p.Source() != "EC2 instance metadata ("+srv.URL+"), access key …2KEY" {
		t.Errorf("Source() = %q", p.Source())
	}
}

func TestNothingConfiguredFailsFast(t *testing.T) {
	isolate(t)
	start := time.Now()
	_, _, err := get(t, Options{})
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("err = %v, want ErrNoCredentials", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	for _, want := range []string{"AWS_ACCESS_KEY_ID not set", "shared credentials file", "EC2 instance metadata (http://127.0.0.1:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	_, _, err = get(t, Options{})
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "disabled by AWS_EC2_METADATA_DISABLED") {
		t.Fatalf("err = %v", err)
	}
	if got := Describe(context.Background(), Options{}); !strings.HasPrefix(got, "no usable credentials: no AWS credentials found: ") {
		t.Errorf("Describe = %q", got)
	}
}

// A metadata endpoint that accepts connections and never answers (as
// 169.254.169.254 does off AWS, behind some firewalls) must not hang the
// chain.
func TestSilentMetadataEndpointTimesOut(t *testing.T) {
	isolate(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
	start := time.Now()
	_, _, err := get(t, Options{})
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("a silent metadata endpoint held the chain for %v", d.Round(time.Millisecond))
	}
}

// A profile asked for by name that cannot be read ends the chain: falling
// through to instance metadata would sign as somebody else.
func TestNamedProfileMissingStopsTheChain(t *testing.T) {
	dir := isolate(t)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, filepath.Join(dir, "credentials"), twoProfiles))
	var imds atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { imds.Add(1) }))
	defer srv.Close()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)

	_, _, err := get(t, Options{Profile: "staging"})
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), `profile "staging"`) {
		t.Fatalf("err = %v", err)
	}
	if imds.Load() != 0 {
		t.Errorf("instance metadata was asked %d times after the named profile failed", imds.Load())
	}
}

func TestSecretsNeverInErrorsOrDescriptions(t *testing.T) {
	dir := isolate(t)
	const secret = "wJalrXUtnFEMI-K7MDENG-do-not-print"
	const token = "FwoGZXIvYXdzE-do-not-print"
	if got := Describe(context.Background(), Options{AccessKey: "AKIAEXAMPLE", SecretKey: secret, SessionToken: token}); strings.Contains(got, secret) || strings.Contains(got, token) || !strings.Contains(got, "…MPLE") {
		t.Errorf("Describe = %q", got)
	}
	if _, _, err := get(t, Options{AccessKey: "AKIAEXAMPLE", SessionToken: token}); !errors.Is(err, ErrNoSecretKey) || strings.Contains(err.Error(), token) {
		t.Errorf("err = %v", err)
	}
	// A malformed shared file: the ini parser quotes the bad line.
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", writeFile(t, filepath.Join(dir, "credentials"),
		"[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key "+secret+"\naws_session_token "+token+"\n"))
	_, _, err := get(t, Options{})
	if err == nil {
		t.Fatal("a malformed shared file gave credentials")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), token) {
		t.Errorf("the error shows a secret: %v", err)
	}
	if got := Describe(context.Background(), Options{}); strings.Contains(got, secret) || strings.Contains(got, token) {
		t.Errorf("Describe shows a secret: %q", got)
	}
}
