package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShipSectionValidatedWithKeyAndFix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(path, []byte("kafka: {brokers: [embedded]}\nship:\n  paths: ['logs/*.log']\n  pattern: '^(?P<when>\\S+) (?P<message>.*)$'\n  date: 2026-13-01\n  event_type: Log-Lines\n"), 0o644))
	_, err := Load(path)
	require.ErrorContains(t, err, `ship.time_field: "time" is not a named group of ship.pattern: add (?P<time>...)`)
	require.ErrorContains(t, err, `ship.date: "2026-13-01": write YYYY-MM-DD`)
	require.ErrorContains(t, err, `ship.event_type: "Log-Lines" is not a table name`)

	t.Setenv("SILT_SHIP_TIME_FIELD", "when")
	t.Setenv("SILT_SHIP_TIME_LAYOUT", "2006-01-02T15:04:05Z07:00")
	t.Setenv("SILT_SHIP_DATE", "")
	t.Setenv("SILT_SHIP_EVENT_TYPE", "app_log")
	cfg, err := Load(path)
	require.NoError(t, err, "the environment overrides the file's ship keys")
	require.Equal(t, "app_log", cfg.Ship.EventType)

	// Without ship.paths only `silt ship` itself asks for them.
	cfg, err = Load("")
	require.NoError(t, err)
	require.ErrorContains(t, cfg.ValidateShip(), "ship.paths: no log files")
}
