package config

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The generator runs in the no-config demo and, with a config file, only
// when gen.enabled asks for it: an embedded broker in a user's config
// never fills their lake with synthetic events.
func TestGeneratorOnlyWhenAskedFor(t *testing.T) {
	for _, k := range []string{"SILT_KAFKA_BROKERS", "SILT_GEN_ENABLED", "SILT_GEN_RATE"} {
		unsetenv(t, k)
	}
	cfg, err := Load("")
	require.NoError(t, err)
	require.True(t, cfg.Demo)
	require.True(t, cfg.Gen.Enabled, "the no-config demo generates events")

	t.Setenv("SILT_GEN_ENABLED", "false")
	cfg, err = Load("")
	require.NoError(t, err)
	require.False(t, cfg.Gen.Enabled, "SILT_GEN_ENABLED=false turns the demo's generator off")
	unsetenv(t, "SILT_GEN_ENABLED")

	t.Setenv("SILT_KAFKA_BROKERS", "kafka:9092")
	cfg, err = Load("")
	require.NoError(t, err)
	require.False(t, cfg.Gen.Enabled, "no generator against a real Kafka named in the environment")
	unsetenv(t, "SILT_KAFKA_BROKERS")

	cfg, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\n"))
	require.NoError(t, err)
	require.True(t, cfg.Embedded)
	require.False(t, cfg.Gen.Enabled, "a config file's embedded broker comes without the generator")

	cfg, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\ngen: {enabled: true, rate: 0.5}\n"))
	require.NoError(t, err)
	require.True(t, cfg.Gen.Enabled)
	require.Equal(t, 0.5, cfg.Gen.Rate)

	_, err = Load(writeConfig(t, "kafka: {brokers: [embedded]}\ngen: {enabled: true, rate: -1}\n"))
	require.ErrorContains(t, err, "gen.rate: -1: use events per second, 0 for none")
}

// unsetenv removes k for the rest of the test (t.Setenv restores it after).
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	require.NoError(t, os.Unsetenv(k))
}
