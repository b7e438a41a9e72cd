//go:build integration

package lake_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// openStackS3 opens the stack's bucket under prefix: a client of its own.
func openStackS3(t *testing.T, prefix string) *lake.S3 {
	t.Helper()
	ep := stacktest.Get(t)
	st, err := lake.NewS3(context.Background(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: prefix,
		Region: ep.S3Region, AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	return st
}

// Real MinIO evaluates If-None-Match and If-Match atomically: the
// conditional contract and the races hold with 16 writers, each with a
// client of its own (as separate processes have).
func TestS3ConditionalWritesIntegration(t *testing.T) {
	prefix := fmt.Sprintf("conditional-%d", time.Now().UnixNano())
	st := openStackS3(t, prefix)
	conditionalContract(t, st)
	stores := []lake.Store{st}
	for range 15 {
		stores = append(stores, openStackS3(t, prefix))
	}
	r := raceEach(t, func(i int) lake.Store { return stores[i] }, "race/", 16, 8)
	r.require(t)
	t.Logf("MinIO, 16 clients, %d increments: %d lost races re-read and retried", r.wantCount, r.lostRaces)
}

// 16 processes' worth of clients add a column each, and one shared column
// with two types, to one table's schema on MinIO at once.
func TestS3AddColumnsRaceIntegration(t *testing.T) {
	prefix := fmt.Sprintf("schema-race-%d", time.Now().UnixNano())
	addColumnsRace(t, func() lake.Store { return openStackS3(t, prefix) })
}

// TestS3ConditionalLatencyIntegration measures what a condition costs on
// MinIO: a small object written by Put, Create and Replace, and read by
// Get and GetVersion.
func TestS3ConditionalLatencyIntegration(t *testing.T) {
	st := openStackS3(t, fmt.Sprintf("latency-%d", time.Now().UnixNano()))
	ctx := context.Background()
	const n = 200
	body := bytes.Repeat([]byte(`{"name":"col","type":"varchar"},`), 20)
	measure := func(what string, op func(i int) error) time.Duration {
		ds := make([]time.Duration, n)
		for i := range n {
			t0 := time.Now()
			require.NoError(t, op(i), what)
			ds[i] = time.Since(t0)
		}
		slices.Sort(ds)
		t.Logf("%-10s p50 %v  p90 %v  p99 %v", what, ds[n/2].Round(10*time.Microsecond), ds[n*9/10].Round(10*time.Microsecond), ds[n*99/100].Round(10*time.Microsecond))
		return ds[n/2]
	}
	measure("put", func(i int) error {
		return st.Put(ctx, fmt.Sprintf("put/%d.json", i), bytes.NewReader(body), int64(len(body)))
	})
	measure("create", func(i int) error {
		_, err := st.Create(ctx, fmt.Sprintf("create/%d.json", i), body)
		return err
	})
	v, err := st.Create(ctx, "replace.json", body)
	require.NoError(t, err)
	measure("replace", func(i int) error {
		v, err = st.Replace(ctx, "replace.json", append(body, byte('0'+i%10)), v)
		return err
	})
	measure("get", func(i int) error {
		_, err := lake.ReadAll(ctx, st, fmt.Sprintf("put/%d.json", i))
		return err
	})
	measure("getversion", func(i int) error {
		_, _, err := st.GetVersion(ctx, fmt.Sprintf("put/%d.json", i))
		return err
	})
}

// On the secure stack (TLS MinIO with KMS), conditional writes carry the
// SSE-KMS settings like every write: the contract holds, the ETags of
// encrypted objects work as versions, and the objects are encrypted.
func TestS3ConditionalWritesSSEKMSIntegration(t *testing.T) {
	e := stacktest.Secure(t)
	prefix := fmt.Sprintf("conditional-kms-%d", time.Now().UnixNano())
	st, err := lake.NewS3(context.Background(), lake.S3Options{
		Endpoint: e.S3Endpoint, Bucket: e.S3Bucket, Prefix: prefix, Region: e.S3Region,
		AccessKey: e.S3AccessKey, SecretKey: e.S3SecretKey, PathStyle: true,
		Secure: true, CAFile: e.S3CAFile, SSE: "kms", SSEKMSKeyID: e.S3KMSKeyID,
	})
	require.NoError(t, err)
	conditionalContract(t, st)
	r := race(t, st, "race/", 8, 4)
	r.require(t)

	tlsCfg, err := e.ClientTLS(false)
	require.NoError(t, err)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	mc, err := minio.New(e.S3Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(e.S3AccessKey, e.S3SecretKey, ""), Secure: true,
		Region: e.S3Region, BucketLookup: minio.BucketLookupPath, Transport: tr,
	})
	require.NoError(t, err)
	for _, key := range []string{"cond/schema.json", "race/once", "race/counter"} {
		info, err := mc.StatObject(t.Context(), e.S3Bucket, prefix+"/"+key, minio.StatObjectOptions{})
		require.NoError(t, err, key)
		require.Equal(t, "aws:kms", info.Metadata.Get("X-Amz-Server-Side-Encryption"), key)
	}
}
