package stacktest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/silt-etl/silt/internal/stack"
)

// RequireEncrypted checks that every object under prefix in the secure
// stack's MinIO whose key ends in one of suffixes (every object, given
// none) is stored with SSE-KMS under the stack's KMS key, asking MinIO
// over https with the stack's CA. It fails t when one is not, or when
// there is none to check, and returns how many it checked.
func RequireEncrypted(t testing.TB, e *stack.Endpoints, prefix string, suffixes ...string) int {
	t.Helper()
	tlsCfg, err := e.ClientTLS(false)
	if err != nil {
		t.Fatalf("minio tls: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	mc, err := minio.New(e.S3Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(e.S3AccessKey, e.S3SecretKey, ""), Secure: true,
		Region: e.S3Region, BucketLookup: minio.BucketLookupPath, Transport: tr,
	})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	ctx := t.Context()
	n := 0
	for obj := range mc.ListObjects(ctx, e.S3Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s: %v", prefix, obj.Err)
		}
		if len(suffixes) > 0 && !hasSuffix(obj.Key, suffixes) {
			continue
		}
		st, err := mc.StatObject(ctx, e.S3Bucket, obj.Key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("stat %s: %v", obj.Key, err)
		}
		if alg := st.Metadata.Get("X-Amz-Server-Side-Encryption"); alg != "aws:kms" {
			t.Fatalf("%s is stored with server-side encryption %q, want aws:kms", obj.Key, alg)
		}
		if key := st.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); !strings.HasSuffix(key, e.S3KMSKeyID) {
			t.Fatalf("%s is encrypted with KMS key %q, want %s", obj.Key, key, e.S3KMSKeyID)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no object ending in %v under %s", suffixes, prefix)
	}
	return n
}

func hasSuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}
