package iceberg

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/silt-etl/silt/internal/trustroots"
)

// iceberg-go's S3 file IO (io/gocloud/s3, v0.7.0) takes the endpoint,
// region and keys as properties, but has no property for a CA or for
// server-side encryption: what it writes (metadata, manifest lists,
// manifests) would go out over an untrusted TLS connection and, on a
// bucket without default encryption, unencrypted. It does use an AWS
// configuration it finds in the context (utils.WithAwsConfig) instead of
// building its own, keeping that configuration's HTTP client and API
// options and overriding only the region and the keys from the
// properties. awsConfig builds that configuration from the lake's
// settings.

// awsConfig is the AWS configuration iceberg-go's S3 file IO is to use,
// or nil when the lake needs nothing iceberg-go's own configuration lacks
// (no CA of its own, no SSE).
func awsConfig(ctx context.Context, s S3Options) (*aws.Config, error) {
	sse, err := sseMiddleware(s.SSE, s.SSEKMSKeyID)
	if err != nil {
		return nil, err
	}
	if s.CAFile == "" && sse == nil {
		return nil, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for the Iceberg file IO: %w", err)
	}
	if s.CAFile != "" {
		if cfg.HTTPClient, err = httpClientWithCA(s.CAFile); err != nil {
			return nil, err
		}
	}
	if sse != nil {
		cfg.APIOptions = append(cfg.APIOptions, sse)
	}
	return &cfg, nil
}

// httpClientWithCA trusts caFile besides the system roots.
func httpClientWithCA(caFile string) (*http.Client, error) {
	roots, err := trustroots.WithCAFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("lake.s3.ca_file: %w", err)
	}
	return trustroots.HTTPClient(roots), nil
}

// sseMiddleware sets server-side encryption on every object write the
// S3 client makes (PutObject, and CreateMultipartUpload for large ones;
// the parts inherit it), as silt's own lake client does for its objects:
// sse "s3" is SSE-S3, "kms" SSE-KMS with keyID. It works on the request's
// input, before signing, so the headers are signed like the SDK's own.
// nil for sse "" (the bucket's default encryption applies).
func sseMiddleware(sse, keyID string) (func(*middleware.Stack) error, error) {
	var alg s3types.ServerSideEncryption
	switch sse {
	case "":
		return nil, nil
	case "s3":
		alg = s3types.ServerSideEncryptionAes256
	case "kms":
		if keyID == "" {
			return nil, fmt.Errorf("lake.s3.sse is kms but lake.s3.sse_kms_key_id is empty (SILT_S3_SSE_KMS_KEY_ID)")
		}
		alg = s3types.ServerSideEncryptionAwsKms
	default:
		return nil, fmt.Errorf("lake.s3.sse %q: use s3 or kms, or leave it empty for the bucket's default (SILT_S3_SSE)", sse)
	}
	var key *string
	if alg == s3types.ServerSideEncryptionAwsKms {
		key = aws.String(keyID)
	}
	set := middleware.InitializeMiddlewareFunc("silt/iceberg-sse", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		switch p := in.Parameters.(type) {
		case *s3.PutObjectInput:
			p.ServerSideEncryption, p.SSEKMSKeyId = alg, key
		case *s3.CreateMultipartUploadInput:
			p.ServerSideEncryption, p.SSEKMSKeyId = alg, key
		case *s3.CopyObjectInput:
			p.ServerSideEncryption, p.SSEKMSKeyId = alg, key
		}
		return next.HandleInitialize(ctx, in)
	})
	return func(st *middleware.Stack) error { return st.Initialize.Add(set, middleware.Before) }, nil
}
