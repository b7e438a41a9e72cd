package config

import (
	"errors"
	"fmt"
)

// validateCollectAndGen checks the collector's routes and responses and
// the generator's keys, each problem naming its key and the fix.
func (c *Config) validateCollectAndGen() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Gen.Rate < 0 {
		bad("gen.rate", "%g: use events per second, 0 for none (SILT_GEN_RATE)", c.Gen.Rate)
	}
	return errors.Join(errs...)
}
