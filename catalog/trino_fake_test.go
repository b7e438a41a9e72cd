package catalog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	pemFile string // the CA certificate as a PEM file
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), name+".pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return &testCA{cert: cert, key: key, pemFile: file}
}

// serverCert is a certificate for 127.0.0.1 and localhost signed by ca.
func (ca *testCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "fake-trino"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeTrino answers trino-go-client's statement protocol on loopback: the
// POST to /v1/statement answers with a nextUri, the GET of it with the
// result (or the error) and no nextUri. It knows the few statements silt
// sends when it opens a catalog and checks one.
type fakeTrino struct {
	srv *httptest.Server

	conns    atomic.Int64 // TCP connections accepted
	requests atomic.Int64 // HTTP requests of any kind

	mu       sync.Mutex
	catalogs []string
	schemas  []string
	status   int    // when set, every request is answered with it
	user     string // X-Trino-User of the last POST
	auth     string // Authorization of the last POST
	queries  []string
	results  map[string]any
	next     int
	// failures answer a statement starting with a key with that error message.
	failures map[string]string
}

// newFakeTrino serves https with a certificate signed by ca, or plain
// http when ca is nil.
func newFakeTrino(t *testing.T, ca *testCA) *fakeTrino {
	t.Helper()
	f := &fakeTrino{catalogs: []string{"hive", "system"}, results: map[string]any{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake errors are what some tests cause
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	if ca != nil {
		f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t)}}
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTrino) url() string { return f.srv.URL }

// hostPort is the server's address, for a URL of another scheme.
func (f *fakeTrino) hostPort() string {
	return strings.TrimPrefix(strings.TrimPrefix(f.srv.URL, "https://"), "http://")
}

func (f *fakeTrino) setStatus(code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = code
}

func (f *fakeTrino) setSchemas(s ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schemas = s
}

func (f *fakeTrino) setCatalogs(c ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalogs = c
}

// seen is the user and Authorization header of the last statement.
func (f *fakeTrino) seen() (user, auth string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.user, f.auth
}

func (f *fakeTrino) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		if f.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Trino"`)
		}
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/statement":
		body, _ := io.ReadAll(r.Body)
		query := string(body)
		f.user, f.auth = r.Header.Get("X-Trino-User"), r.Header.Get("Authorization")
		f.queries = append(f.queries, query)
		f.next++
		id := fmt.Sprintf("q%d", f.next)
		f.results[id] = f.answer(id, query)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "nextUri": scheme + "://" + r.Host + "/v1/statement/executing/" + id,
			"stats": map[string]any{"state": "QUEUED"},
		})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/statement/executing/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/statement/executing/")
		res, ok := f.results[id]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	default:
		http.NotFound(w, r)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// answer is the final page of query id.
func (f *fakeTrino) answer(id, query string) map[string]any {
	bigint := func(name string, v int) map[string]any {
		return map[string]any{
			"id":      id,
			"columns": []any{map[string]any{"name": name, "type": "bigint", "typeSignature": map[string]any{"rawType": "bigint", "arguments": []any{}}}},
			"data":    []any{[]any{v}},
			"stats":   map[string]any{"state": "FINISHED"},
		}
	}
	failed := func(name, msg string) map[string]any {
		return map[string]any{
			"id":    id,
			"error": map[string]any{"message": msg, "errorName": name, "errorType": "USER_ERROR", "errorCode": 44},
			"stats": map[string]any{"state": "FAILED"},
		}
	}
	catalogOf := func() string { // the first quoted identifier: "hive".…
		if i := strings.Index(query, `"`); i >= 0 {
			if j := strings.Index(query[i+1:], `"`); j >= 0 {
				return query[i+1 : i+1+j]
			}
		}
		return ""
	}
	quotedValue := func() string { // the last '…' literal
		j := strings.LastIndex(query, "'")
		i := strings.LastIndex(query[:max(j, 0)], "'")
		if i < 0 || j <= i {
			return ""
		}
		return query[i+1 : j]
	}
	for prefix, msg := range f.failures {
		if strings.HasPrefix(query, prefix) {
			return failed("ALREADY_EXISTS", msg)
		}
	}
	switch {
	case query == "SELECT 1":
		return bigint("_col0", 1)
	case strings.Contains(query, "system.metadata.catalogs"):
		n := 0
		if contains(f.catalogs, quotedValue()) {
			n = 1
		}
		return bigint("_col0", n)
	case strings.Contains(query, "information_schema.schemata"):
		if !contains(f.catalogs, catalogOf()) {
			return failed("CATALOG_NOT_FOUND", fmt.Sprintf("line 1:22: Catalog '%s' not found", catalogOf()))
		}
		n := 0
		if contains(f.schemas, quotedValue()) {
			n = 1
		}
		return bigint("_col0", n)
	case strings.HasPrefix(query, "CREATE SCHEMA"):
		if !contains(f.catalogs, catalogOf()) {
			return failed("CATALOG_NOT_FOUND", fmt.Sprintf("line 1:1: Catalog '%s' not found", catalogOf()))
		}
		return map[string]any{"id": id, "updateType": "CREATE SCHEMA", "stats": map[string]any{"state": "FINISHED"}}
	}
	return failed("NOT_SUPPORTED", "the fake Trino does not know: "+query)
}

func x509VerifyOpts(roots *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: roots}
}

func poolSize(p *x509.CertPool) int {
	//lint:ignore SA1019 counting is all the test does with the subjects
	return len(p.Subjects()) //nolint:staticcheck
}

func systemPoolSize() (int, error) {
	p, err := x509.SystemCertPool()
	if err != nil {
		return 0, err
	}
	return poolSize(p), nil
}
