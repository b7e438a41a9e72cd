package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
)

// Conditional writes on S3 are conditional PUTs, which AWS S3 and MinIO
// both evaluate atomically per key: Create sends If-None-Match: * and
// Replace sends If-Match: "<etag>". A version is the object's ETag. The
// object goes up in one PUT (never multipart), so the condition is checked
// once, at the request that makes it visible; SSE applies as to every write.
//
// A precondition failure (412 PreconditionFailed; 409
// ConditionalRequestConflict when another conditional write of the key is
// in flight; 404 for a Replace of a deleted key) is never retried: the
// caller lost a race, and re-reads.

// Create stores data under key only if key does not exist.
func (s *S3) Create(ctx context.Context, key string, data []byte) (Version, error) {
	opts := s.conditionalOptions(key)
	opts.SetMatchETagExcept("*")
	return s.conditionalPut(ctx, "create "+key, key, data, opts, false)
}

// Replace stores data under key only if key's current ETag is prev.
func (s *S3) Replace(ctx context.Context, key string, data []byte, prev Version) (Version, error) {
	if prev == "" {
		return "", fmt.Errorf("replace %s: no version to replace: %w", key, ErrPreconditionFailed)
	}
	opts := s.conditionalOptions(key)
	opts.SetMatchETag(string(prev))
	return s.conditionalPut(ctx, "replace "+key, key, data, opts, true)
}

func (s *S3) conditionalOptions(key string) minio.PutObjectOptions {
	return minio.PutObjectOptions{ContentType: contentType(key), ServerSideEncryption: s.sse, DisableMultipart: true}
}

func (s *S3) conditionalPut(ctx context.Context, what, key string, data []byte, opts minio.PutObjectOptions, replace bool) (Version, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	var info minio.UploadInfo
	// maybeApplied: an earlier attempt failed without an answer from the
	// server (a cut connection, a 5xx), so it may have been applied. Then a
	// precondition failure may be our own write: if the object holds
	// exactly our bytes, it is.
	maybeApplied := false
	err := s.retry(ctx, what, func() error {
		var err error
		info, err = s.client.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(data), int64(len(data)), opts)
		if err == nil {
			return nil
		}
		if preconditionFailed(err, replace) {
			if maybeApplied {
				if cur, v, gerr := s.GetVersion(ctx, key); gerr == nil && bytes.Equal(cur, data) {
					info.ETag = string(v)
					return nil
				}
			}
			return permanent(fmt.Errorf("%w (%w)", ErrPreconditionFailed, err))
		}
		var er minio.ErrorResponse
		if !errors.As(err, &er) || er.StatusCode == 0 || er.StatusCode >= 500 {
			maybeApplied = true
		}
		return err
	})
	if err != nil {
		return "", s.fail(what, err)
	}
	if info.ETag == "" {
		// Without an ETag nothing can Replace this object later.
		return "", s.fail(what, errors.New("the server answered without an ETag"))
	}
	return Version(info.ETag), nil
}

// preconditionFailed: the server refused a conditional write because the
// key is not as the condition says.
func preconditionFailed(err error, replace bool) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	switch {
	case er.Code == "PreconditionFailed" || er.StatusCode == http.StatusPreconditionFailed:
		return true
	case er.Code == "ConditionalRequestConflict":
		return true
	case replace && isNotFound(err):
		return true // If-Match on a deleted key
	}
	return false
}

// GetVersion reads key and its ETag in one GET: the ETag is of exactly
// the bytes read.
func (s *S3) GetVersion(ctx context.Context, key string) ([]byte, Version, error) {
	if err := CheckKey(key); err != nil {
		return nil, "", err
	}
	core := minio.Core{Client: s.client}
	var data []byte
	var etag string
	err := s.retry(ctx, "get "+key, func() error {
		rc, info, _, err := core.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
		if isNotFound(err) {
			return permanent(fmt.Errorf("%w", ErrNotExist))
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		if data, err = io.ReadAll(rc); err != nil {
			return err
		}
		etag = info.ETag
		return nil
	})
	if err != nil {
		return nil, "", s.fail("get "+key, err)
	}
	return data, Version(etag), nil
}
