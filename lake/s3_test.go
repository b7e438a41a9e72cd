package lake_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

const (
	testSecret = "s3cr3t-Key-that-must-never-print"
	testToken  = "session-Token-that-must-never-print"
)

func staticOpts(endpoint string) lake.S3Options {
	return lake.S3Options{
		Endpoint: endpoint, Bucket: "lake", Region: "us-east-1", PathStyle: true,
		AccessKey: "AKIATESTKEY", SecretKey: testSecret, SessionToken: testToken,
	}
}

// openFast opens a lake and asserts it took at most a few seconds.
func openFast(t *testing.T, o lake.S3Options) (*lake.S3, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	s, err := lake.NewS3(ctx, o)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("NewS3 took %v: it retried an error a retry cannot fix", d.Round(time.Millisecond))
	}
	return s, err
}

func TestNewS3ExplainsAndFailsFast(t *testing.T) {
	pemOf := func(srv *httptest.Server) string {
		return writePEM(t, srv.Certificate().Raw)
	}
	for _, tc := range []struct {
		name    string
		server  func(t *testing.T) (*httptest.Server, *atomic.Int32)
		opts    func(o *lake.S3Options, srv *httptest.Server)
		explain string
	}{{
		name: "wrong secret",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, false, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		},
		explain: "the secret key does not match the access key (lake.s3.secret_key / SILT_S3_SECRET_KEY)",
	}, {
		name: "unknown access key",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, false, 403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")
		},
		explain: "the access key is unknown to the server (lake.s3.access_key / SILT_S3_ACCESS_KEY)",
	}, {
		name: "clock skew",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, false, 403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.")
		},
		explain: "the clock differs from the server's by more than 15 minutes (fix the clock: S3 signatures are time-bound)",
	}, {
		name: "access denied",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, false, 403, "AccessDenied", "Access Denied.")
		},
		explain: "access to bucket lake is denied to the credentials in use (static keys, access key …TKEY): grant them s3:ListBucket",
	}, {
		name: "missing bucket",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, false, 404, "NoSuchBucket", "The specified bucket does not exist")
		},
		explain: "bucket lake does not exist (lake.s3.bucket, or lake.s3.create_bucket: true)",
	}, {
		name: "wrong region",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.WriteHeader(400)
				fmt.Fprint(w, `<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>`)
			}))
			t.Cleanup(srv.Close)
			return srv, &n
		},
		explain: "the region does not match the bucket's (lake.s3.region / SILT_S3_REGION: the server expects eu-west-1)",
	}, {
		name: "self-signed certificate not in the CA file",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, true, 200, "", "")
		},
		opts:    func(o *lake.S3Options, _ *httptest.Server) { o.Secure, o.CAFile = true, otherCA(t) },
		explain: "the server's certificate is not signed by a trusted CA (lake.s3.ca_file / SILT_S3_CA_FILE)",
	}, {
		name: "self-signed certificate and no CA file",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, true, 200, "", "")
		},
		opts:    func(o *lake.S3Options, _ *httptest.Server) { o.Secure = true },
		explain: "the server's certificate is not signed by a trusted CA (lake.s3.ca_file / SILT_S3_CA_FILE)",
	}, {
		name: "certificate for another host",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, true, 200, "", "")
		},
		opts: func(o *lake.S3Options, srv *httptest.Server) {
			o.Secure, o.CAFile = true, pemOf(srv)
			o.Endpoint = strings.Replace(o.Endpoint, "127.0.0.1", "localhost", 1)
		},
		explain: "the server's certificate is not valid for localhost: it lists example.com, *.example.com, 127.0.0.1, ::1 (lake.s3.endpoint must be one of them)",
	}, {
		name: "https client, plain http server",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, false, 200, "", "")
		},
		opts:    func(o *lake.S3Options, _ *httptest.Server) { o.Secure = true },
		explain: "the endpoint speaks plain http but lake.s3.secure is true",
	}, {
		name: "plain http client, https server",
		server: func(t *testing.T) (*httptest.Server, *atomic.Int32) {
			t.Helper()
			return errorServer(t, true, 200, "", "")
		},
		explain: "the endpoint speaks https: set lake.s3.secure: true (SILT_S3_SECURE=true)",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := tc.server(t)
			o := staticOpts(hostOf(srv))
			if tc.opts != nil {
				tc.opts(&o, srv)
			}
			_, err := openFast(t, o)
			require.Error(t, err)
			t.Log(err)
			require.Contains(t, lake.ExplainS3Error(err), tc.explain)
			require.Contains(t, err.Error(), tc.explain, "the error itself says the cause")
			require.Contains(t, err.Error(), "open s3 lake s3://lake at "+o.Endpoint)
			// The scheduler holds a job off on these instead of retrying
			// it every tick (scheduler.IsPermanent looks for this method).
			var p interface{ Permanent() bool }
			require.ErrorAs(t, err, &p)
			require.True(t, p.Permanent(), "a misconfiguration is permanent")
			if got := n.Load(); got > 3 {
				t.Errorf("the server saw %d requests: a retry storm", got)
			}
		})
	}
}

func TestNewS3TrustsCAFile(t *testing.T) {
	f := &fakeS3{bucket: "lake", objects: map[string][]byte{}, uploads: map[string]map[int][]byte{}}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	defer f.Close()
	o := staticOpts(hostOf(f.Server))
	o.Secure, o.CAFile = true, writePEM(t, f.Certificate().Raw)
	s, err := openFast(t, o)
	require.NoError(t, err)
	require.NoError(t, lake.Probe(context.Background(), s))
	require.Equal(t, "static keys, access key …TKEY", s.CredentialSource())
}

func TestNewS3CAFileWithoutCertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}), 0o600))
	o := staticOpts("127.0.0.1:1")
	o.Secure, o.CAFile = true, path
	_, err := lake.NewS3(context.Background(), o)
	require.ErrorContains(t, err, "lake.s3.ca_file (SILT_S3_CA_FILE): "+path+": no PEM certificate in it")
}

func TestNewS3NothingListens(t *testing.T) {
	addr := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// An outage is retried (a MinIO restart is ridden out) until ctx ends;
	// the error still says what was wrong.
	_, err := lake.NewS3(ctx, staticOpts(addr))
	require.Error(t, err)
	require.Contains(t, lake.ExplainS3Error(err), "nothing listens at "+addr+" (lake.s3.endpoint / SILT_S3_ENDPOINT)")
	var p interface{ Permanent() bool }
	require.False(t, errors.As(err, &p) && p.Permanent(), "an outage is not permanent: the job keeps retrying")
}

func TestNewS3NoCredentialsFailsFast(t *testing.T) {
	noAWS(t)
	f := newFakeS3(t, "lake")
	o := staticOpts(f.Endpoint())
	o.AccessKey, o.SecretKey, o.SessionToken = "", "", ""
	_, err := openFast(t, o)
	require.Error(t, err)
	require.Contains(t, lake.ExplainS3Error(err), "no credentials were found: set lake.s3.access_key and lake.s3.secret_key")
	require.Contains(t, err.Error(), "AWS_ACCESS_KEY_ID not set")
	require.Zero(t, f.requests.Load(), "anonymous requests were sent")
}

func TestNewS3CredentialChainSourceInExplanation(t *testing.T) {
	noAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	srv, n := errorServer(t, false, 403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")
	o := staticOpts(hostOf(srv))
	o.AccessKey, o.SecretKey, o.SessionToken = "", "", ""
	_, err := openFast(t, o)
	require.ErrorContains(t, err, "the access key is unknown to the server (lake.s3.access_key, or the credential chain's source: environment (AWS_ACCESS_KEY_ID), access key …MENV)")
	require.LessOrEqual(t, n.Load(), int32(3))
}

// Secrets must not appear in any error or log line, even when a server
// echoes the request (the session token travels in a header).
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	echo := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s", r.Method, r.URL)
			for k, v := range r.Header {
				fmt.Fprintf(&b, " %s=%s", k, strings.Join(v, ","))
			}
			w.WriteHeader(status)
			// Not XML: minio-go puts the body into the error message.
			fmt.Fprint(w, b.String())
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	check := func(what, text string) {
		t.Helper()
		for _, secret := range []string{testSecret, testToken} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows a secret: %s", what, text)
			}
		}
	}
	xmlEcho := func(code string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			fmt.Fprintf(w, `<Error><Code>%s</Code><Message>token %s</Message></Error>`, code, r.Header.Get("X-Amz-Security-Token"))
		}))
		t.Cleanup(srv.Close)
		return srv
	}

	// A 400 echo (permanent), a 503 echo (retried and logged until ctx
	// ends), and an XML error quoting the token.
	for _, srv := range []*httptest.Server{echo(400), echo(503), xmlEcho("SignatureDoesNotMatch"), xmlEcho("ExpiredToken")} {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		o := staticOpts(hostOf(srv))
		o.Logger = log
		_, err := lake.NewS3(ctx, o)
		cancel()
		require.Error(t, err)
		if !strings.Contains(err.Error(), "503") {
			require.Contains(t, err.Error(), "[redacted]", "the echo server's text should be in the error, redacted")
		}
		check("the error", err.Error())
		check("the explanation", lake.ExplainS3Error(err))
	}

	// Secrets from the credential chain, and a store's own methods.
	noAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	t.Setenv("AWS_SESSION_TOKEN", testToken)
	f := newFakeS3(t, "lake")
	o := staticOpts(f.Endpoint())
	o.AccessKey, o.SecretKey, o.SessionToken = "", "", ""
	o.Logger = log
	s, err := lake.NewS3(context.Background(), o)
	require.NoError(t, err)
	f.Config.Handler = xmlEcho("InvalidToken").Config.Handler
	err = s.Put(context.Background(), "a/b.json", strings.NewReader("{}"), 2)
	require.ErrorContains(t, err, "[redacted]")
	check("a Put error", err.Error())

	require.Contains(t, logs.String(), "retrying", "the 503 should have been retried and logged")
	check("the log", logs.String())
}

func TestSSEHeadersOnEveryWrite(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (17<<20)/16) // past the 16 MiB single-PUT limit: multipart
	for _, tc := range []struct {
		sse, keyID, want, wantKey string
	}{
		{"", "", "", ""},
		{"s3", "", "AES256", ""},
		{"kms", "silt-key", "aws:kms", "silt-key"},
	} {
		t.Run("sse="+tc.sse, func(t *testing.T) {
			f := newFakeS3(t, "lake")
			o := staticOpts(f.Endpoint())
			o.SSE, o.SSEKMSKeyID = tc.sse, tc.keyID
			s, err := lake.NewS3(context.Background(), o)
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, s.Put(ctx, "t/small.json", strings.NewReader(`{"a":1}`), 7))
			require.NoError(t, s.Put(ctx, "t/unknown-size.csv", strings.NewReader("a,b\n"), -1))
			require.NoError(t, s.Put(ctx, "t/big.parquet", bytes.NewReader(big), int64(len(big))))
			got, err := lake.ReadAll(ctx, s, "t/big.parquet")
			require.NoError(t, err)
			require.True(t, bytes.Equal(big, got), "the multipart upload reassembled")
			require.NoError(t, lake.Probe(ctx, s))
			v, err := s.Create(ctx, "t/cond.json", []byte(`{"a":1}`))
			require.NoError(t, err)
			_, err = s.Replace(ctx, "t/cond.json", []byte(`{"a":2}`), v)
			require.NoError(t, err)

			writes := map[string]int{}
			for _, r := range f.seenRequests() {
				// Object writes: a PUT of a whole object, or the start of a
				// multipart upload (its parts carry no SSE-S3/KMS headers).
				single := r.Method == http.MethodPut && r.Query["uploadId"] == nil
				initiate := r.Method == http.MethodPost && r.Query["uploads"] != nil
				if !single && !initiate {
					continue
				}
				writes[r.Method]++
				require.Equal(t, tc.want, r.Header.Get("X-Amz-Server-Side-Encryption"), "%s %s", r.Method, r.Path)
				require.Equal(t, tc.wantKey, r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), "%s %s", r.Method, r.Path)
			}
			require.Equal(t, map[string]int{http.MethodPut: 4, http.MethodPost: 2}, writes,
				"four single PUTs (a Put, the probe, a Create and a Replace) and two multipart uploads (unknown size, and past 16 MiB)")
		})
	}
}

func TestSSEOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct{ sse, keyID, want string }{
		{"aes", "", `lake.s3.sse "aes": use s3 or kms`},
		{"kms", "", "lake.s3.sse is kms but lake.s3.sse_kms_key_id is empty"},
		{"s3", "k", "lake.s3.sse_kms_key_id is set but lake.s3.sse is s3"},
	} {
		o := staticOpts("127.0.0.1:1")
		o.SSE, o.SSEKMSKeyID = tc.sse, tc.keyID
		_, err := lake.NewS3(context.Background(), o)
		require.ErrorContains(t, err, tc.want)
	}
}

func TestS3StoreContractOnFake(t *testing.T) {
	f := newFakeS3(t, "lake")
	o := staticOpts(f.Endpoint())
	o.Prefix, o.SSE = "contract", "s3"
	s, err := lake.NewS3(context.Background(), o)
	require.NoError(t, err)
	storeContract(t, s)
}

// Conditional writes are single PUTs with If-None-Match: * (Create) and
// If-Match: "<etag>" (Replace), whatever the object's size.
func TestS3ConditionalHeaders(t *testing.T) {
	f := newFakeS3(t, "lake")
	s, err := lake.NewS3(context.Background(), staticOpts(f.Endpoint()))
	require.NoError(t, err)
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 17<<20) // past the single-PUT part size
	v, err := s.Create(ctx, "t/big.json", big)
	require.NoError(t, err)
	v2, err := s.Replace(ctx, "t/big.json", append(big, 'y'), v)
	require.NoError(t, err)
	var got []string
	for _, r := range f.seenRequests() {
		if r.Method == http.MethodPost {
			t.Fatalf("a conditional write went multipart: %s %v", r.Path, r.Query)
		}
		if r.Method == http.MethodPut {
			got = append(got, r.Header.Get("If-None-Match")+"|"+r.Header.Get("If-Match"))
		}
	}
	require.Equal(t, []string{`*|`, `|"` + string(v) + `"`}, got)
	_, err = s.Replace(ctx, "t/big.json", []byte("z"), v)
	require.ErrorIs(t, err, lake.ErrPreconditionFailed)
	require.Contains(t, err.Error(), "PreconditionFailed")
	_, v3, err := s.GetVersion(ctx, "t/big.json")
	require.NoError(t, err)
	require.Equal(t, v2, v3)
}

// A precondition failure is an answer, not an outage: one request, no
// retry. A 503 before it is retried, and a 409 ConditionalRequestConflict
// (another conditional write in flight) is a lost race too.
func TestS3PreconditionFailureIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		lost   bool
	}{
		{http.StatusPreconditionFailed, "PreconditionFailed", true},
		{http.StatusConflict, "ConditionalRequestConflict", true},
		{http.StatusServiceUnavailable, "SlowDown", false},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := newFakeS3(t, "lake")
			s, err := lake.NewS3(context.Background(), staticOpts(f.Endpoint()))
			require.NoError(t, err)
			f.mu.Lock()
			f.putStatus, f.putCode = tc.status, tc.code
			f.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err = s.Create(ctx, "t/a.json", []byte("a"))
			require.Error(t, err)
			require.Equal(t, tc.lost, errors.Is(err, lake.ErrPreconditionFailed), "%v", err)
			puts := 0
			for _, r := range f.seenRequests() {
				if r.Method == http.MethodPut {
					puts++
				}
			}
			if tc.lost {
				require.Equal(t, 1, puts, "never retried")
			} else {
				require.Greater(t, puts, 1, "an outage is retried")
			}
		})
	}
}

// A conditional write that was applied but whose answer was lost is
// retried; the retry's precondition failure is then our own write, which
// the object's bytes show: success, not a lost race.
func TestS3ConditionalWriteWithLostAnswer(t *testing.T) {
	f := newFakeS3(t, "lake")
	s, err := lake.NewS3(context.Background(), staticOpts(f.Endpoint()))
	require.NoError(t, err)
	ctx := context.Background()
	f.mu.Lock()
	f.lostAnswers = 1
	f.mu.Unlock()
	v, err := s.Create(ctx, "t/a.json", []byte("mine"))
	require.NoError(t, err)
	f.mu.Lock()
	f.lostAnswers = 1
	f.mu.Unlock()
	v2, err := s.Replace(ctx, "t/a.json", []byte("mine, again"), v)
	require.NoError(t, err)
	raw, cur, err := s.GetVersion(ctx, "t/a.json")
	require.NoError(t, err)
	require.Equal(t, "mine, again", string(raw))
	require.Equal(t, v2, cur)
	// Someone else's object is still a lost race.
	_, err = s.Create(ctx, "t/a.json", []byte("other"))
	require.ErrorIs(t, err, lake.ErrPreconditionFailed)
}

// A server that ignores the conditions, as an old one would: the race
// test catches it.
func TestRaceTestCatchesAServerWithoutConditions(t *testing.T) {
	f := newFakeS3(t, "lake")
	f.noConditions = true
	s, err := lake.NewS3(context.Background(), staticOpts(f.Endpoint()))
	require.NoError(t, err)
	r := race(t, s, "race/", 16, 4)
	t.Logf("without conditions: %d of %d writers created the same key; counter %d of %d increments (%d committed twice)",
		r.winners, r.writers, r.finalCount, r.wantCount, r.duplicates)
	require.Equal(t, 16, r.winners)
}

func TestProbe(t *testing.T) {
	local, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, lake.Probe(context.Background(), local))
	left, err := local.List(context.Background(), lake.ProbePrefix)
	require.NoError(t, err)
	require.Empty(t, left, "the probe object is deleted")

	// A server without KMS refuses encrypted writes: the probe says so.
	f := newFakeS3(t, "lake")
	o := staticOpts(f.Endpoint())
	o.SSE = "s3"
	s, err := lake.NewS3(context.Background(), o)
	require.NoError(t, err)
	var puts atomic.Int32
	f.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		puts.Add(1)
		s3Error(w, http.StatusNotImplemented, "NotImplemented", "Server side encryption specified but KMS is not configured", "lake")
	})
	start := time.Now()
	err = lake.Probe(context.Background(), s)
	require.ErrorContains(t, err, "probe: write: put _silt/probe/")
	require.Contains(t, lake.ExplainS3Error(err), "the server has no KMS, so it cannot encrypt objects (lake.s3.sse / SILT_S3_SSE")
	require.Less(t, time.Since(start), 3*time.Second)
	require.LessOrEqual(t, puts.Load(), int32(3))
}

// A failed upload from a reader that cannot rewind is not retried, and the
// error keeps the failure's cause.
func TestPutUnrewindableKeepsTheCause(t *testing.T) {
	f := newFakeS3(t, "lake")
	s, err := lake.NewS3(context.Background(), staticOpts(f.Endpoint()))
	require.NoError(t, err)
	f.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", "lake")
	})
	err = s.Put(context.Background(), "a/b.csv", io.MultiReader(strings.NewReader("a,b\n")), 4)
	require.ErrorContains(t, err, "upload failed and its reader cannot rewind: SlowDown: Please reduce your request rate.")
}

// Folder markers other tools write into the lake (a Hive Metastore on S3A
// makes "prefix/" and "table/dt=…/" when Trino registers a schema or
// partition) are not objects of the lake: List leaves them out.
func TestS3ListSkipsDirectoryMarkers(t *testing.T) {
	f := newFakeS3(t, "lake")
	o := staticOpts(f.Endpoint())
	o.Prefix = "events"
	s, err := lake.NewS3(context.Background(), o)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Put(ctx, "t/dt=2024-05-01/hour=10/a.parquet", strings.NewReader("x"), 1))
	f.mu.Lock()
	for _, marker := range []string{"events/", "events/t/", "events/t/dt=2024-05-01/hour=10/", "events/t_$folder$"} {
		f.objects[marker] = nil
	}
	f.mu.Unlock()
	objs, err := s.List(ctx, "")
	require.NoError(t, err)
	require.Len(t, objs, 1, "%v", objs)
	require.Equal(t, "t/dt=2024-05-01/hour=10/a.parquet", objs[0].Key)
}
