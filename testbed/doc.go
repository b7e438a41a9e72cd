// Package testbed is not silt: it holds what silt's tests and benchmarks
// stand on, kept out of internal/ so that every package there is product
// code. stacktest attaches tests to the real MinIO, Kafka and Trino (silt
// stack up); lakecheck reads a lake back to check what was written; e2e is
// the end-to-end tier (the built binary, kill -9 recovery); bench/ingest
// and bench/load are the programs `make bench` runs.
package testbed
