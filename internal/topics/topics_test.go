package topics

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/embedded"
)

func TestEnsureCreatesMissingTopicsAndLeavesOthers(t *testing.T) {
	b, err := embedded.StartBroker(0, "", []string{"existing"}, 1)
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()

	require.NoError(t, Ensure(ctx, b.Addrs(), []string{"existing", "fresh"}, 4))
	require.NoError(t, Ensure(ctx, b.Addrs(), []string{"fresh"}, 4), "idempotent")

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	require.NoError(t, err)
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, "existing", "fresh")
	require.NoError(t, err)
	require.Len(t, details["existing"].Partitions, 1, "an existing topic is untouched")
	require.Len(t, details["fresh"].Partitions, 4)
}
