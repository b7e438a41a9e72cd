package lake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// ProbePrefix is where Probe writes its object.
const ProbePrefix = "_silt/probe/"

// Probe checks the round trip every job relies on: it puts a small object
// under _silt/probe/ (with the store's server-side encryption), reads it
// back, compares, and deletes it. The error names the step that failed;
// for an S3 store it also says why (see ExplainS3Error).
func Probe(ctx context.Context, s Store) error {
	var id [8]byte
	rand.Read(id[:])
	key := ProbePrefix + hex.EncodeToString(id[:]) + ".txt"
	body := []byte("silt probe " + time.Now().UTC().Format(time.RFC3339Nano) + "\n")
	if err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return fmt.Errorf("probe: write: %w", err)
	}
	got, err := ReadAll(ctx, s, key)
	if err != nil {
		_ = s.Delete(ctx, key)
		return fmt.Errorf("probe: read back: %w", err)
	}
	if !bytes.Equal(got, body) {
		_ = s.Delete(ctx, key)
		return fmt.Errorf("probe: read back %d bytes that differ from the %d written to %s", len(got), len(body), s.URI(key))
	}
	if err := s.Delete(ctx, key); err != nil {
		return fmt.Errorf("probe: delete: %w", err)
	}
	return nil
}
