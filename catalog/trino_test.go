package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

func TestTrinoDSNPinsSessionAndBoundsRetries(t *testing.T) {
	dsn, err := trinoDSN(TrinoOptions{URL: "http://silt@127.0.0.1:8080", Catalog: "hive", Schema: "events"})
	require.NoError(t, err)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	require.Equal(t, "silt", u.User.Username())
	require.Equal(t, url.Values{"catalog": {"hive"}, "schema": {"events"}, "timezone": {"UTC"}, "request_retry_timeout": {"10s"}}, u.Query())

	// What the URL says wins.
	dsn, err = trinoDSN(TrinoOptions{URL: "http://silt@127.0.0.1:8080?request_retry_timeout=1m&schema=other", Catalog: "hive", Schema: "events"})
	require.NoError(t, err)
	u, err = url.Parse(dsn)
	require.NoError(t, err)
	require.Equal(t, "1m", u.Query().Get("request_retry_timeout"))
	require.Equal(t, "other", u.Query().Get("schema"))
}

func TestTrinoDSNCredentials(t *testing.T) {
	parse := func(tr TrinoOptions) *url.URL {
		t.Helper()
		tr.Catalog, tr.Schema = "hive", "events"
		dsn, err := trinoDSN(tr)
		require.NoError(t, err)
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		return u
	}

	// No user anywhere: silt. The URL's user stays unless catalog.trino.user is set.
	require.Equal(t, "silt", parse(TrinoOptions{URL: "https://trino:8443"}).User.Username())
	require.Equal(t, "etl", parse(TrinoOptions{URL: "https://etl@trino:8443"}).User.Username())
	require.Equal(t, "ops", parse(TrinoOptions{URL: "https://etl@trino:8443", User: "ops"}).User.Username())

	// The password goes into the userinfo, escaped.
	u := parse(TrinoOptions{URL: "https://etl@trino:8443", User: "ops", Password: "p@ss:w/rd?&"})
	pass, ok := u.User.Password()
	require.True(t, ok)
	require.Equal(t, "ops", u.User.Username())
	require.Equal(t, "p@ss:w/rd?&", pass)
	_, ok = parse(TrinoOptions{URL: "https://trino:8443"}).User.Password()
	require.False(t, ok)

	// The token is the client's accessToken parameter; retries stay bounded.
	u = parse(TrinoOptions{URL: "https://trino:8443", AccessToken: "eyJ.a+b/c="})
	require.Equal(t, "eyJ.a+b/c=", u.Query().Get("accessToken"))
	require.Equal(t, "10s", u.Query().Get("request_retry_timeout"))
}

const (
	testPassword = "s3cr3t-P@ss/w:rd"
	testToken    = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldGwifQ.c2lnbmF0dXJl"
)

// requireNoSecret fails when the error or its explanation shows the
// password or the token, in any of the forms a URL would write them.
func requireNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{testPassword, url.QueryEscape(testPassword), url.PathEscape(testPassword), "r3t-P", testToken, "c2lnbmF0dXJl"} {
		require.NotContains(t, err.Error(), s)
		require.NotContains(t, fmt.Sprintf("%+v", err), s)
		require.NotContains(t, ExplainTrinoError(err), s)
	}
}

func trinoConfig(rawURL string) TrinoOptions {
	return TrinoOptions{URL: rawURL, Catalog: "hive", Schema: "events", Location: "s3://lake/"}
}

// openFast opens the catalog and requires it to answer within a few
// seconds, the point of the fail-fast tests.
func openFast(t *testing.T, tr TrinoOptions) (*Catalog, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := openTrino(ctx, tr, lake.DtHour, slog.New(slog.DiscardHandler))
	require.Less(t, time.Since(start), 3*time.Second, "openTrino took %s (err %v)", time.Since(start), err)
	requireNoSecret(t, err)
	if c != nil {
		t.Cleanup(func() { require.NoError(t, c.Close()) })
	}
	return c, err
}

func TestTrinoHTTPSWithCAFileAndPassword(t *testing.T) {
	ca := newTestCA(t, "silt-test-ca")
	f := newFakeTrino(t, ca)
	tr := trinoConfig(f.url())
	tr.User, tr.Password, tr.CAFile = "etl", testPassword, ca.pemFile

	c, err := openFast(t, tr)
	require.NoError(t, err)
	user, auth := f.seen()
	require.Equal(t, "etl", user)
	require.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("etl:"+testPassword)), auth)
	require.Contains(t, f.queries[0], `CREATE SCHEMA IF NOT EXISTS "hive"."events"`)
	require.NoError(t, c.Close())

	// The system roots stay trusted besides the CA file: a CA file with
	// only another CA in it still opens a server the system trusts. Here
	// the server's CA is not a system root, so only the pool's content
	// decides; check the pool holds both.
	client, err := trinoCAClient(ca.pemFile)
	require.NoError(t, err)
	tlsConf := client.Transport.(*http.Transport).TLSClientConfig
	_, err = ca.cert.Verify(x509VerifyOpts(tlsConf.RootCAs))
	require.NoError(t, err)
	if sys, err := systemPoolSize(); err == nil && sys > 0 {
		require.Greater(t, poolSize(tlsConf.RootCAs), 1, "the system roots are missing from the pool")
	}
}

func TestTrinoAccessTokenIsABearerToken(t *testing.T) {
	ca := newTestCA(t, "silt-test-ca")
	f := newFakeTrino(t, ca)
	tr := trinoConfig(f.url())
	tr.AccessToken, tr.CAFile = testToken, ca.pemFile

	_, err := openFast(t, tr)
	require.NoError(t, err)
	user, auth := f.seen()
	require.Equal(t, "silt", user, "no user in the URL or the config: silt")
	require.Equal(t, "Bearer "+testToken, auth)
}

func TestTrinoUserReplacesTheURLUser(t *testing.T) {
	f := newFakeTrino(t, nil)
	u, _ := url.Parse(f.url())

	u.User = url.User("from_url")
	_, err := openFast(t, trinoConfig(u.String()))
	require.NoError(t, err)
	user, auth := f.seen()
	require.Equal(t, "from_url", user)
	require.Empty(t, auth, "no credentials configured: no Authorization header")

	tr := trinoConfig(u.String())
	tr.User = "from_config"
	_, err = openFast(t, tr)
	require.NoError(t, err)
	user, _ = f.seen()
	require.Equal(t, "from_config", user)
}

func TestTrinoUntrustedCertificateFailsFastAndIsExplained(t *testing.T) {
	serverCA := newTestCA(t, "server-ca")
	otherCA := newTestCA(t, "other-ca")
	f := newFakeTrino(t, serverCA)

	for name, caFile := range map[string]string{"another CA file": otherCA.pemFile, "system roots only": ""} {
		t.Run(name, func(t *testing.T) {
			before := f.conns.Load()
			tr := trinoConfig(f.url())
			tr.Password, tr.CAFile = testPassword, caFile
			_, err := openFast(t, tr)
			require.Error(t, err)
			require.Contains(t, ExplainTrinoError(err), "not signed by a trusted CA")
			require.Contains(t, ExplainTrinoError(err), "catalog.trino.ca_file")
			require.LessOrEqual(t, f.conns.Load()-before, int64(2), "the TLS failure was retried")
			require.Zero(t, f.requests.Load(), "a request reached the server over an untrusted connection")
		})
	}
}

func TestTrinoWrongPasswordFailsFastAndIsExplained(t *testing.T) {
	ca := newTestCA(t, "silt-test-ca")
	f := newFakeTrino(t, ca)
	f.setStatus(http.StatusUnauthorized)
	tr := trinoConfig(f.url())
	tr.Password, tr.CAFile = testPassword, ca.pemFile

	_, err := openFast(t, tr)
	require.Error(t, err)
	require.Equal(t, int64(1), f.requests.Load(), "the 401 was retried")
	require.Contains(t, ExplainTrinoError(err), "refused the credentials (401)")
	require.Contains(t, ExplainTrinoError(err), "catalog.trino.password")

	// The same with a token, and through CheckTrino.
	tr.Password, tr.AccessToken = "", testToken
	_, err = CheckTrino(t.Context(), tr)
	require.Error(t, err)
	requireNoSecret(t, err)
	require.Equal(t, int64(2), f.requests.Load(), "the 401 was retried")
	require.Contains(t, ExplainTrinoError(err), "(401)")
}

// TestTrinoRetryCounterSeesRetries shows the request counter the
// fail-fast tests rely on does see the client's retries: a 503 is retried
// until request_retry_timeout.
func TestTrinoRetryCounterSeesRetries(t *testing.T) {
	f := newFakeTrino(t, nil)
	f.setStatus(http.StatusServiceUnavailable)
	_, err := openTrino(t.Context(), trinoConfig(f.url()+"?request_retry_timeout=700ms"), lake.DtHour, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	require.Greater(t, f.requests.Load(), int64(2))
	require.Contains(t, ExplainTrinoError(err), "unavailable (503")
}

func TestTrinoSchemeMismatchIsExplained(t *testing.T) {
	ca := newTestCA(t, "silt-test-ca")

	t.Run("http to an https server", func(t *testing.T) {
		f := newFakeTrino(t, ca)
		_, err := openFast(t, trinoConfig("http://"+f.hostPort()))
		require.Error(t, err)
		require.Equal(t, "the server speaks https: write https:// in catalog.trino.url", ExplainTrinoError(err))
	})
	t.Run("https to an http server", func(t *testing.T) {
		f := newFakeTrino(t, nil)
		tr := trinoConfig("https://" + f.hostPort())
		tr.Password, tr.CAFile = testPassword, ca.pemFile
		_, err := openFast(t, tr)
		require.Error(t, err)
		require.Contains(t, ExplainTrinoError(err), "the server speaks plain http: write http:// in catalog.trino.url")
		require.Zero(t, f.requests.Load(), "an https request was served as http")
	})
}

// rawServer accepts connections on loopback and answers each with reply
// (then closes it) without reading HTTP: what a TLS-only server does to
// plain http.
func rawServer(t *testing.T, reply []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_, _ = c.Write(reply)
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

func TestTrinoHTTPToATLSOnlyPortIsExplained(t *testing.T) {
	// Trino's Jetty answers plain http on its https port with a TLS alert
	// record (seen on the secure stack: "\x15\x03\x03\x00\x02\x02P").
	addr := rawServer(t, []byte("\x15\x03\x03\x00\x02\x02P"))
	_, err := openFast(t, trinoConfig("http://"+addr))
	require.Error(t, err)
	require.Equal(t, "the server speaks https: write https:// in catalog.trino.url", ExplainTrinoError(err))

	// A server that hangs up without a word may be one too.
	addr = rawServer(t, nil)
	_, err = openFast(t, trinoConfig("http://"+addr))
	require.Error(t, err)
	require.Equal(t, "the server closed the connection without an HTTP answer: if it speaks https, write https:// in catalog.trino.url", ExplainTrinoError(err))
}

func TestTrinoNothingListeningIsExplained(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	// CheckTrino's client gives up on a refused connection within
	// seconds (checkRetryTimeout), so the cause, not only a deadline,
	// reaches the caller.
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_, err = CheckTrino(ctx, trinoConfig("http://"+addr))
	require.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, err)
	require.Equal(t, "nothing listens at "+addr+" (catalog.trino.url): is Trino up, and is this its port?", ExplainTrinoError(err))

	// A check whose deadline comes first says so, and still explains.
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = CheckTrino(ctx, trinoConfig("http://"+addr))
	require.Error(t, err)
	require.Contains(t, err.Error(), "no answer before the check's deadline")
	require.Equal(t, "Trino did not answer in time (catalog.trino.url): is it up and reachable, and is this its port?", ExplainTrinoError(err))
}

func TestCheckTrino(t *testing.T) {
	ca := newTestCA(t, "silt-test-ca")
	f := newFakeTrino(t, ca)
	tr := trinoConfig(f.url())
	tr.User, tr.Password, tr.CAFile = "etl", testPassword, ca.pemFile

	detail, err := CheckTrino(t.Context(), tr)
	require.NoError(t, err)
	require.Equal(t, f.url()+" answers as user etl; catalog hive exists; schema events does not exist yet (silt creates it when it first opens the catalog)", detail)
	require.Equal(t, []string{"SELECT 1", "SELECT count(*) FROM system.metadata.catalogs WHERE catalog_name = 'hive'",
		`SELECT count(*) FROM "hive".information_schema.schemata WHERE schema_name = 'events'`}, f.queries)
	user, _ := f.seen()
	require.Equal(t, "etl", user)

	f.setSchemas("events")
	detail, err = CheckTrino(t.Context(), tr)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(detail, "; schema events exists"), detail)

	f.setCatalogs("system")
	_, err = CheckTrino(t.Context(), tr)
	require.Error(t, err)
	requireNoSecret(t, err)
	require.Equal(t, "catalog hive does not exist in Trino (catalog.trino.catalog)", ExplainTrinoError(err))
	require.Equal(t, "trino at "+f.url()+": catalog hive does not exist in Trino", err.Error())

	// Opening the catalog says the same from Trino's own error.
	_, err = openFast(t, tr)
	require.Error(t, err)
	require.Equal(t, "catalog hive does not exist in Trino (catalog.trino.catalog)", ExplainTrinoError(err))
}

func TestTrinoCAFileWithoutCertificate(t *testing.T) {
	f := newFakeTrino(t, newTestCA(t, "silt-test-ca"))
	empty := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(empty, []byte("not a certificate\n"), 0o600))
	tr := trinoConfig(f.url())
	tr.Password, tr.CAFile = testPassword, empty
	_, err := openFast(t, tr)
	require.ErrorContains(t, err, "catalog.trino.ca_file")
	require.ErrorContains(t, err, "no PEM certificate")
	require.Zero(t, f.conns.Load())
}

func TestTrinoErrorsHideSecrets(t *testing.T) {
	// A password written into the URL itself, which does not parse: the
	// parse error quotes the URL, silt does not.
	bad := trinoConfig("https://" + url.UserPassword("etl", testPassword).String() + "@127.0.0.1:notaport")
	_, err := trinoDSN(bad)
	require.ErrorContains(t, err, "catalog.trino.url")
	requireNoSecret(t, err)
	_, err = openTrino(t.Context(), bad, lake.DtHour, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "catalog.trino.url")
	requireNoSecret(t, err)

	// A URL the client refuses after silt built the DSN.
	tr := trinoConfig("https://etl@127.0.0.1:1?request_retry_timeout=soon")
	tr.Password, tr.AccessToken = testPassword, testToken
	_, err = openTrino(t.Context(), tr, lake.DtHour, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "request_retry_timeout")
	requireNoSecret(t, err)

	// The seatbelt: whatever error mentions them, in whatever escaping,
	// loses them and keeps its chain.
	inner := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}
	for _, msg := range []string{testPassword, url.QueryEscape(testPassword), url.PathEscape(testPassword), fmt.Sprintf("%q", testToken), "https://u:" + url.UserPassword("u", testPassword).String()} {
		err := redactSecrets(fmt.Errorf("boom %s: %w", msg, inner), TrinoOptions{Password: testPassword, AccessToken: testToken})
		requireNoSecret(t, err)
		require.Contains(t, err.Error(), "[REDACTED]")
		var op *net.OpError
		require.ErrorAs(t, err, &op)
	}
	plain := errors.New("nothing secret")
	require.Same(t, plain, redactSecrets(plain, TrinoOptions{Password: testPassword}))
}

func TestExplainTrinoErrorUnknown(t *testing.T) {
	require.Empty(t, ExplainTrinoError(nil))
	require.Empty(t, ExplainTrinoError(errors.New("something else")))
}

// Several silt processes register one lake: Trino's answers that another
// process got there first are success (the messages are Trino 476's, as
// seen with three processes on one lake).
func TestConcurrentRegistrationIsSuccess(t *testing.T) {
	for _, msg := range []string{
		"Schema 'events' already exists",
		"line 1:1: Table 'hive.events.purchase_sword' already exists",
		"line 1:1: Column 'guild_rank' already exists",
		"Partition [dt=2026-11-29, hour=13] is already registered",
	} {
		require.True(t, concurrentlyDone(errors.New(msg)), msg)
	}
	require.False(t, concurrentlyDone(errors.New("Access Denied: Cannot create schema events")))

	f := newFakeTrino(t, nil)
	f.failures = map[string]string{"CREATE SCHEMA": "Schema 'events' already exists"}
	c, err := openFast(t, trinoConfig(f.url()))
	require.NoError(t, err, "a schema another process created first is what Open wanted")
	require.NoError(t, c.Close())

	f.failures = map[string]string{"CREATE SCHEMA": "Access Denied: Cannot create schema events"}
	_, err = openFast(t, trinoConfig(f.url()))
	require.ErrorContains(t, err, "Access Denied")
}
