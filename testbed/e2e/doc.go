// Package e2e holds the end-to-end tier: the built silt binary against the
// real stack (MinIO, Kafka, Trino), as a user runs it, including kill -9
// recovery. Its tests need the integration build tag.
package e2e
