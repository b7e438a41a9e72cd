package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/silt-etl/silt/internal/ident"
)

// ValidateShip checks the ship keys, each problem naming its key and the
// fix. `silt ship` calls it; Load calls it too once ship.paths is set,
// so `silt run` with a ship section rejects a broken one as well.
func (c *Config) ValidateShip() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	s := c.Ship
	if len(s.Paths) == 0 {
		bad("ship.paths", "no log files: list globs like /var/log/app/*.log (SILT_SHIP_PATHS)")
	}
	for _, p := range s.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			bad("ship.paths", "%q is not a glob: %v", p, err)
		}
	}
	re, err := regexp.Compile(s.Pattern)
	switch {
	case s.Pattern == "":
		bad("ship.pattern", "empty: write a regular expression with named groups, e.g. ^(?P<time>\\S+) (?P<level>\\w+) (?P<message>.*)$")
	case err != nil:
		bad("ship.pattern", "%v (Go RE2 syntax; named groups are (?P<name>...))", err)
	case re.SubexpIndex(s.TimeField) < 0:
		bad("ship.time_field", "%q is not a named group of ship.pattern: add (?P<%s>...) or name the group holding the time", s.TimeField, s.TimeField)
	}
	if s.TimeLayout == "" {
		bad("ship.time_layout", "empty: write the time's Go layout, e.g. 15:04:05.000 or 2006-01-02T15:04:05Z07:00")
	}
	if s.Date != "" {
		if _, err := time.Parse("2006-01-02", s.Date); err != nil {
			bad("ship.date", "%q: write YYYY-MM-DD, or leave it empty for each file's modification date", s.Date)
		}
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil {
		bad("ship.timezone", "%q: %v (use an IANA zone name like UTC or Europe/Paris)", s.Timezone, err)
	}
	if !ident.Valid(s.EventType) {
		bad("ship.event_type", "%q is not a table name: use lowercase letters, digits and _, starting with a letter, e.g. log", s.EventType)
	}
	if s.StateFile == "" {
		bad("ship.state_file", "empty: name the file that keeps each log file's offset, e.g. ./silt-ship.state")
	}
	if s.Poll.Std() <= 0 {
		bad("ship.poll", "%s: use a positive duration like 250ms", s.Poll)
	}
	if s.Topic == "" && len(c.Kafka.Topics) == 0 {
		bad("ship.topic", "empty and kafka.topics is empty: name the topic to publish to")
	}
	return errors.Join(errs...)
}
