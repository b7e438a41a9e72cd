package lake_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeS3 is a small in-memory S3 on loopback: enough of the API for
// lake.S3 (list v2, put, multipart, get, head, delete), recording every
// request's method, query and headers.
type fakeS3 struct {
	*httptest.Server
	bucket   string
	requests atomic.Int32

	mu      sync.Mutex
	objects map[string][]byte
	uploads map[string]map[int][]byte
	seen    []seenRequest
	// noConditions ignores If-None-Match and If-Match, as a server without
	// conditional writes would: to show the tests catch it.
	noConditions bool
	// putStatus and putCode, when set, answer every PUT with that error.
	putStatus int
	putCode   string
	// lostAnswers: that many PUTs are applied but answered 500, as if the
	// answer was lost.
	lostAnswers int
}

// etagOf is an object's ETag, as S3 makes it for a single PUT: the MD5.
func etagOf(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

type seenRequest struct {
	Method, Path string
	Query        map[string][]string
	Header       http.Header
}

func newFakeS3(t *testing.T, bucket string) *fakeS3 {
	t.Helper()
	f := &fakeS3{bucket: bucket, objects: map[string][]byte{}, uploads: map[string]map[int][]byte{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Endpoint is host:port, as lake.S3Options wants it.
func (f *fakeS3) Endpoint() string { return strings.TrimPrefix(f.URL, "http://") }

func (f *fakeS3) seenRequests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

func (f *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	f.mu.Unlock()

	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	if parts[0] != f.bucket {
		s3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", parts[0])
		return
	}
	q := r.URL.Query()
	key := ""
	if len(parts) == 2 {
		key = parts[1]
	}
	switch {
	case key == "" && r.Method == http.MethodGet && q.Has("location"):
		fmt.Fprint(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
	case key == "" && r.Method == http.MethodGet:
		f.list(w, q.Get("prefix"), q.Get("max-keys"))
	case key == "" && r.Method == http.MethodHead:
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.mu.Lock()
		id := fmt.Sprintf("upload-%d", len(f.uploads)+1)
		f.uploads[id] = map[int][]byte{}
		f.mu.Unlock()
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, f.bucket, key, id)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		body, err := payload(r)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error(), f.bucket)
			return
		}
		n, _ := strconv.Atoi(q.Get("partNumber"))
		f.mu.Lock()
		f.uploads[q.Get("uploadId")][n] = body
		f.mu.Unlock()
		w.Header().Set("ETag", fmt.Sprintf(`"part-%d"`, n))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		_, _ = io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		up := f.uploads[q.Get("uploadId")]
		nums := make([]int, 0, len(up))
		for n := range up {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var all []byte
		for _, n := range nums {
			all = append(all, up[n]...)
		}
		f.objects[key] = all
		delete(f.uploads, q.Get("uploadId"))
		f.mu.Unlock()
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"whole"</ETag></CompleteMultipartUploadResult>`, f.bucket, key)
	case r.Method == http.MethodPut && f.failPut(w):
	case r.Method == http.MethodPut:
		body, err := payload(r)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error(), f.bucket)
			return
		}
		// Conditional writes: the check and the write are one step.
		f.mu.Lock()
		cur, exists := f.objects[key]
		if f.noConditions {
			exists = false
		}
		match, noneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
		switch {
		case noneMatch == "*" && exists:
			f.mu.Unlock()
			s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", f.bucket)
			return
		case match != "" && !exists && !f.noConditions:
			f.mu.Unlock()
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", f.bucket)
			return
		case match != "" && exists && strings.Trim(match, `"`) != etagOf(cur):
			f.mu.Unlock()
			s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", f.bucket)
			return
		}
		f.objects[key] = body
		lose := f.lostAnswers > 0
		if lose {
			f.lostAnswers--
		}
		f.mu.Unlock()
		if lose {
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error", f.bucket)
			return
		}
		w.Header().Set("ETag", `"`+etagOf(body)+`"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		f.mu.Lock()
		body, ok := f.objects[key]
		f.mu.Unlock()
		if !ok {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", f.bucket)
			return
		}
		w.Header().Set("ETag", `"`+etagOf(body)+`"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	case r.Method == http.MethodDelete:
		f.mu.Lock()
		delete(f.objects, key)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented", r.Method+" is not implemented here", f.bucket)
	}
}

// failPut answers a PUT with the configured error, if any.
func (f *fakeS3) failPut(w http.ResponseWriter) bool {
	f.mu.Lock()
	status, code := f.putStatus, f.putCode
	f.mu.Unlock()
	if status == 0 {
		return false
	}
	s3Error(w, status, code, code, f.bucket)
	return true
}

func (f *fakeS3) list(w http.ResponseWriter, prefix, maxKeys string) {
	f.mu.Lock()
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	truncated := false
	if n, err := strconv.Atoi(maxKeys); err == nil && n > 0 && len(keys) > n {
		keys, truncated = keys[:n], true
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><IsTruncated>%t</IsTruncated>`, f.bucket, prefix, len(keys), truncated)
	if truncated {
		fmt.Fprintf(&b, `<NextContinuationToken>%s</NextContinuationToken>`, keys[len(keys)-1])
	}
	for _, k := range keys {
		fmt.Fprintf(&b, `<Contents><Key>%s</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"etag"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>`, k, len(f.objects[k]))
	}
	f.mu.Unlock()
	b.WriteString(`</ListBucketResult>`)
	_, _ = io.WriteString(w, b.String())
}

// payload is a request body, decoding aws-chunked (streaming signature) bodies.
func payload(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") && !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return raw, nil
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("chunk header: %w", err)
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("chunk size %q: %w", line, err)
		}
		if size == 0 {
			return out, nil
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, err
		}
		out = append(out, chunk...)
		_, _ = br.ReadString('\n')
	}
}

func s3Error(w http.ResponseWriter, status int, code, message, bucket string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><BucketName>%s</BucketName><Resource>/%s</Resource><RequestId>req-1</RequestId><HostId>host-1</HostId></Error>`, code, message, bucket, bucket)
}

// errorServer answers every request with one S3 error, counting requests.
func errorServer(t *testing.T, tls bool, status int, code, message string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		s3Error(w, status, code, message, "lake")
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &n
}

func hostOf(srv *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
}

// otherCA writes a self-signed CA certificate that signed nothing the
// test servers present.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, der)
}

func writePEM(t *testing.T, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil { // else the port is not closed
		t.Fatal(err)
	}
	return addr
}

// noAWS clears the AWS credential chain's sources and points instance
// metadata at a closed loopback port (a developer's ~/.aws must not leak in).
func noAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
		"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+closedPort(t))
}
