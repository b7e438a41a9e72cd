package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options locate a bucket on MinIO or any S3.
type S3Options struct {
	Endpoint  string // host:port
	Bucket    string
	Prefix    string // every key is stored under it
	Region    string
	AccessKey string
	SecretKey string
	Secure    bool
	PathStyle bool
	// CreateBucket creates a missing bucket at open.
	CreateBucket bool
}

// S3 is a lake in a bucket.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 connects and checks that the bucket exists (creating it if asked).
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	lookup := minio.BucketLookupDNS
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(o.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:       o.Secure,
		Region:       o.Region,
		BucketLookup: lookup,
		// Retries are ours (withRetry), with backoff bounded by the context.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", o.Endpoint, err)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &S3{client: client, bucket: o.Bucket, prefix: prefix}
	err = withRetry(ctx, "check bucket "+o.Bucket, func() error {
		ok, err := client.BucketExists(ctx, o.Bucket)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !o.CreateBucket {
			return permanent(fmt.Errorf("bucket %q does not exist (create it, or set lake.s3.create_bucket: true)", o.Bucket))
		}
		err = client.MakeBucket(ctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region})
		if err != nil && minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open s3 lake at %s: %w", o.Endpoint, err)
	}
	return s, nil
}

// Put uploads with the real size: minio-go given -1 buffers up to 512 MiB
// per upload to find part boundaries.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: contentType(key)}
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
	attempt := 0
	err := withRetry(ctx, "put "+key, func() error {
		if attempt++; attempt > 1 {
			if !canRetry {
				return permanent(errors.New("upload failed and its reader cannot rewind"))
			}
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return permanent(err)
			}
		}
		_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, r, size, opts)
		return err
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
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
	err := withRetry(ctx, "get "+key, func() error {
		var err error
		obj, err = s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return obj, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	var info minio.ObjectInfo
	err := withRetry(ctx, "stat "+key, func() error {
		var err error
		info, err = s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
		if isNotFound(err) {
			return permanent(fmt.Errorf("%w", ErrNotExist))
		}
		return err
	})
	if err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return Object{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := withRetry(ctx, "list "+prefix, func() error {
		out = out[:0]
		for info := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
			if info.Err != nil {
				return info.Err
			}
			out = append(out, Object{Key: strings.TrimPrefix(info.Key, s.prefix), Size: info.Size, Modified: info.LastModified})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := withRetry(ctx, "delete "+key, func() error {
		return s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
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
