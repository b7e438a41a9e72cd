package lake

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/silt-etl/silt/internal/awscreds"
	"github.com/silt-etl/silt/internal/trustroots"
)

// S3Options locate a bucket on MinIO or any S3 and say how to reach it.
type S3Options struct {
	Endpoint string // host:port
	Bucket   string
	Prefix   string // every key is stored under it
	Region   string
	// AccessKey, SecretKey and SessionToken are static keys. Without an
	// access key the AWS credential chain is used (internal/awscreds):
	// the environment, the shared credentials file (Profile), web identity
	// (exchanged at STSEndpoint), container and instance metadata.
	AccessKey    string
	SecretKey    string
	SessionToken string
	Profile      string
	STSEndpoint  string
	Secure       bool
	// CAFile is a PEM bundle trusted for https besides the system roots
	// (also for the STS endpoint).
	CAFile    string
	PathStyle bool
	// SSE encrypts every object silt writes: "" (the bucket's default),
	// "s3" (SSE-S3) or "kms" (SSE-KMS with SSEKMSKeyID).
	SSE         string
	SSEKMSKeyID string
	// CreateBucket creates a missing bucket at open.
	CreateBucket bool
	// Logger gets a line per retried call; nil discards them.
	Logger *slog.Logger
}

// S3 is a lake in a bucket.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	sse    encrypt.ServerSide
	creds  *credentials.Credentials
	rec    *recordingProvider
	why    *errContext
	log    *slog.Logger
}

// NewS3 connects and checks that the bucket exists (creating it if asked).
// Authentication and configuration errors are not retried; the error says
// what was wrong and which setting fixes it (see ExplainS3Error).
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	sse, err := serverSide(o)
	if err != nil {
		return nil, err
	}
	tr, err := s3Transport(o)
	if err != nil {
		return nil, err
	}
	rec := &recordingProvider{Provider: awscreds.NewProvider(awscreds.Options{
		AccessKey: o.AccessKey, SecretKey: o.SecretKey, SessionToken: o.SessionToken,
		Profile: o.Profile, STSEndpoint: o.STSEndpoint,
		HTTPClient: &http.Client{Transport: tr, Timeout: 15 * time.Second},
	})}
	rec.remember(o.SecretKey, o.SessionToken)
	creds := credentials.New(rec)
	lookup := minio.BucketLookupDNS
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(o.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       o.Secure,
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    tr,
		// Retries are ours (withRetry), with backoff bounded by the context.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s (lake.s3.endpoint): %w", o.Endpoint, err)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &S3{client: client, bucket: o.Bucket, prefix: prefix, sse: sse, creds: creds, rec: rec, log: log,
		why: &errContext{endpoint: o.Endpoint, bucket: o.Bucket, secure: o.Secure, sse: o.SSE, static: rec.Static(), source: rec.Source}}
	err = s.retry(ctx, "check bucket "+o.Bucket, func() error {
		// A listing, not HEAD: its error has a body, so a wrong secret
		// reads SignatureDoesNotMatch rather than a bare 403.
		err := s.firstObject(ctx)
		if err != nil && !o.Secure && connectionCut(err) && speaksTLS(ctx, o.Endpoint) {
			// A TLS server may answer plain http with a 400 or just
			// close the connection: ask it for a handshake to tell.
			return permanent(fmt.Errorf("%w; %w", err, errSpeaksTLS))
		}
		if err == nil || minio.ToErrorResponse(err).Code != "NoSuchBucket" || !o.CreateBucket {
			return err
		}
		err = client.MakeBucket(ctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region})
		if err != nil && minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, s.fail(fmt.Sprintf("open s3 lake s3://%s at %s", o.Bucket, o.Endpoint), err)
	}
	return s, nil
}

// CredentialSource says where the store's credentials came from (static
// keys, or the credential chain's source), never a secret; empty before
// the first request.
func (s *S3) CredentialSource() string { return s.rec.Source() }

// firstObject lists at most one key of the lake: it proves the bucket
// exists and the credentials may read it.
func (s *S3) firstObject(ctx context.Context) error {
	for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, MaxKeys: 1, Recursive: true}) {
		return info.Err
	}
	return nil
}

// serverSide is the encryption of every object silt writes.
func serverSide(o S3Options) (encrypt.ServerSide, error) {
	switch o.SSE {
	case "":
		if o.SSEKMSKeyID != "" {
			return nil, fmt.Errorf("lake.s3.sse_kms_key_id is set but lake.s3.sse is empty: set lake.s3.sse: kms (SILT_S3_SSE=kms)")
		}
		return nil, nil
	case "s3":
		if o.SSEKMSKeyID != "" {
			return nil, fmt.Errorf("lake.s3.sse_kms_key_id is set but lake.s3.sse is s3: set lake.s3.sse: kms (SILT_S3_SSE=kms)")
		}
		return encrypt.NewSSE(), nil
	case "kms":
		if o.SSEKMSKeyID == "" {
			return nil, fmt.Errorf("lake.s3.sse is kms but lake.s3.sse_kms_key_id is empty (SILT_S3_SSE_KMS_KEY_ID)")
		}
		sse, err := encrypt.NewSSEKMS(o.SSEKMSKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("lake.s3.sse_kms_key_id %q: %w", o.SSEKMSKeyID, err)
		}
		return sse, nil
	}
	return nil, fmt.Errorf("lake.s3.sse %q: use s3 or kms, or leave it empty for the bucket's default (SILT_S3_SSE)", o.SSE)
}

// s3Transport is minio-go's default transport trusting the system roots
// plus CAFile.
func s3Transport(o S3Options) (*http.Transport, error) {
	tr, err := minio.DefaultTransport(o.Secure)
	if err != nil {
		return nil, err
	}
	if o.CAFile == "" {
		return tr, nil
	}
	roots, err := trustroots.WithCAFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("lake.s3.ca_file (SILT_S3_CA_FILE): %w", err)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = roots
	return tr, nil
}

// Put uploads with the real size: minio-go given -1 buffers up to 512 MiB
// per upload to find part boundaries.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: contentType(key), ServerSideEncryption: s.sse}
	if size < 0 {
		opts.PartSize = 16 << 20
	}
	// A retry needs the reader from the start: only seekable readers retry.
	seeker, canRetry := r.(io.Seeker)
	if canRetry && size >= 0 {
		// A reader of the wrong length is a bug, not an outage: say so
		// now rather than after every retry.
		if n, err := remaining(seeker); err == nil && n != size {
			return fmt.Errorf("put %s: reader holds %d bytes, expected %d", key, n, size)
		}
	}
	var failed error // the previous attempt's
	err := s.retry(ctx, "put "+key, func() error {
		if failed != nil {
			if !canRetry {
				return permanent(fmt.Errorf("upload failed and its reader cannot rewind: %w", failed))
			}
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return permanent(err)
			}
		}
		_, failed = s.client.PutObject(ctx, s.bucket, s.prefix+key, r, size, opts)
		return failed
	})
	if err != nil {
		return s.fail("put "+key, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	// GetObject is lazy; Stat first so a missing key fails here, not on Read.
	if _, err := s.Stat(ctx, key); err != nil {
		return nil, err
	}
	var obj *minio.Object
	err := s.retry(ctx, "get "+key, func() error {
		var err error
		obj, err = s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
		return err
	})
	if err != nil {
		return nil, s.fail("get "+key, err)
	}
	return obj, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	var info minio.ObjectInfo
	err := s.retry(ctx, "stat "+key, func() error {
		var err error
		info, err = s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
		if isNotFound(err) {
			return permanent(fmt.Errorf("%w", ErrNotExist))
		}
		return err
	})
	if err != nil {
		return Object{}, s.fail("stat "+key, err)
	}
	return Object{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := s.retry(ctx, "list "+prefix, func() error {
		out = out[:0]
		// The iterator, not the channel: returning early from a channel
		// listing would leave its goroutine blocked.
		for info := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
			if info.Err != nil {
				return info.Err
			}
			if isDirectoryMarker(info.Key) {
				continue
			}
			out = append(out, Object{Key: strings.TrimPrefix(info.Key, s.prefix), Size: info.Size, Modified: info.LastModified})
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("list "+prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// isDirectoryMarker: an empty "folder" object that other tools put in a
// bucket, not data. A Hive Metastore on S3A creates "schema/" and
// "table/dt=…/" when Trino registers a schema or partition there; the S3
// console and EMR ("_$folder$") make them too. silt's own keys never end
// in "/", so listing them would hand callers keys they cannot use.
func isDirectoryMarker(key string) bool {
	return strings.HasSuffix(key, "/") || strings.HasSuffix(key, "_$folder$")
}

func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := s.retry(ctx, "delete "+key, func() error {
		return s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	})
	if err != nil {
		return s.fail("delete "+key, err)
	}
	return nil
}

func (s *S3) URI(key string) string {
	return "s3://" + path.Join(s.bucket, s.prefix+key)
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound" || code == "NoSuchObject"
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".json":
		return "application/json"
	case ".csv":
		return "text/csv"
	}
	return "application/octet-stream"
}

// remaining is how many bytes a seekable reader has left.
func remaining(s io.Seeker) (int64, error) {
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	_, err = s.Seek(cur, io.SeekStart)
	return end - cur, err
}
