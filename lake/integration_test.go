//go:build integration

package lake_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func TestS3StoreContractIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	st, err := lake.NewS3(context.Background(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: fmt.Sprintf("contract-%d", time.Now().UnixNano()),
		Region: ep.S3Region, AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	storeContract(t, st)
}
