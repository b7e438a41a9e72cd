package iceberg

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/stretchr/testify/require"
)

// fakeS3 is an https S3 endpoint with a certificate of its own CA that
// records the headers of each object written.
type fakeS3 struct {
	srv    *httptest.Server
	caFile string

	mu  sync.Mutex
	put map[string]http.Header // path -> headers of the PUT
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{put: map[string]http.Header{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPut {
			f.mu.Lock()
			f.put[r.URL.Path] = r.Header.Clone()
			f.mu.Unlock()
		}
		w.Header().Set("ETag", `"0"`)
	}))
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(f.caFile, ca, 0o600))
	return f
}

func (f *fakeS3) written(path string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.put[path]
}

// writeThroughIcebergIO writes one object the way iceberg-go writes
// table metadata: its S3 file IO, configured by Tables' properties and
// context.
func writeThroughIcebergIO(t *testing.T, f *fakeS3, opts S3Options, key string) error {
	t.Helper()
	tables, err := Open(t.Context(), Options{MetastoreURI: "thrift://127.0.0.1:1", Namespace: "ns", Location: "s3://lake/", S3: opts}, nil)
	require.NoError(t, err)
	ctx := tables.ctx(t.Context())
	fs, err := iceio.LoadFS(ctx, tables.props(), "s3://lake/"+key)
	require.NoError(t, err)
	w, ok := fs.(iceio.WriteFileIO)
	require.True(t, ok, "iceberg-go's S3 IO writes")
	return w.WriteFile("s3://lake/"+key, []byte(`{"format-version":2}`))
}

// iceberg-go's S3 file IO has no properties for a CA or for SSE: what
// silt commits to Iceberg tables reaches an https lake with a private CA,
// and is encrypted as the lake's objects are, only through the AWS
// configuration silt hands it in the context.
func TestIcebergIOTrustsLakeCAAndEncrypts(t *testing.T) {
	f := newFakeS3(t)
	endpoint := strings.TrimPrefix(f.srv.URL, "https://")
	base := S3Options{Endpoint: endpoint, Secure: true, Region: "us-east-1", AccessKey: "AKIAFAKE", SecretKey: "fake-secret"}

	withCA := base
	withCA.CAFile = f.caFile
	for _, c := range []struct {
		name          string
		sse, key      string
		wantAlgorithm string
		wantKey       string
	}{
		{"kms", "kms", "silt-key", "aws:kms", "silt-key"},
		{"s3", "s3", "", "AES256", ""},
		{"bucket default", "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := withCA
			opts.SSE, opts.SSEKMSKeyID = c.sse, c.key
			key := "_iceberg/ns/t/metadata/" + strings.ReplaceAll(c.name, " ", "-") + ".metadata.json"
			require.NoError(t, writeThroughIcebergIO(t, f, opts, key))
			h := f.written("/lake/" + key)
			require.NotNil(t, h, "the object was written, path-style")
			require.Equal(t, c.wantAlgorithm, h.Get("X-Amz-Server-Side-Encryption"))
			require.Equal(t, c.wantKey, h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
			if c.wantAlgorithm != "" {
				require.Contains(t, h.Get("Authorization"), "x-amz-server-side-encryption", "the SSE headers are signed")
			}
		})
	}

	// Without the CA the write fails on the certificate, and the error
	// does not carry the secret key.
	err := writeThroughIcebergIO(t, f, base, "_iceberg/ns/t/metadata/no-ca.metadata.json")
	require.ErrorContains(t, err, "certificate")
	require.NotContains(t, err.Error(), base.SecretKey)

	_, err = Open(t.Context(), Options{MetastoreURI: "thrift://127.0.0.1:1", Namespace: "ns", Location: "s3://lake/",
		S3: S3Options{Endpoint: endpoint, SSE: "kms"}}, nil)
	require.ErrorContains(t, err, "lake.s3.sse_kms_key_id")
	_, err = Open(t.Context(), Options{MetastoreURI: "thrift://127.0.0.1:1", Namespace: "ns", Location: "s3://lake/",
		S3: S3Options{Endpoint: endpoint, SSE: "aes"}}, nil)
	require.ErrorContains(t, err, `lake.s3.sse "aes"`)
}
