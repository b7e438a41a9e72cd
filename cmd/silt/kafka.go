package main

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/awscreds"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/kafkaconn"
)

// kafkaConn is kafka.tls and kafka.sasl as kafkaconn takes them.
func kafkaConn(cfg *config.Config) kafkaconn.Options {
	k := cfg.Kafka
	o := kafkaconn.Options{
		TLS:  kafkaconn.TLS(k.TLS),
		SASL: kafkaconn.SASL{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, Password: k.SASL.Password, TokenFile: k.SASL.TokenFile},
	}
	if k.SASL.Mechanism == "aws-msk-iam" {
		// The AWS chain without lake.s3's static keys: those may be a
		// MinIO's, and MSK wants the role's (environment, shared file,
		// web identity, container or instance metadata).
		creds := awscreds.New(awscreds.Options{Profile: cfg.Lake.S3.Profile, STSEndpoint: cfg.Lake.S3.STSEndpoint})
		o.AWSCredentials = func(context.Context) (string, string, string, error) {
			v, err := creds.GetWithContext(nil)
			return v.AccessKeyID, v.SecretAccessKey, v.SessionToken, err
		}
	}
	return o
}

// kafkaClientOpts secure every Kafka client silt makes (ingest, collector,
// generator, topic admin, lag reads) the same way.
func kafkaClientOpts(cfg *config.Config) ([]kgo.Opt, error) {
	return kafkaConn(cfg).ClientOpts()
}
