// Package ident turns event types and field names into identifiers that are
// safe as a table directory, a Hive table name and a SQL identifier.
//
// The rule is one for every engine: [a-z][a-z0-9_]{0,62}. Anything that does
// not normalize to it is rejected (event types go to the dead-letter table),
// so nothing taken from an event ever reaches a path or SQL unvalidated.
package ident

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxLen is the longest identifier (Hive and Trino accept more; 63 keeps
// PostgreSQL-backed metastores and file systems happy).
const MaxLen = 63

var (
	ErrEmpty    = errors.New("empty name")
	ErrTooLong  = fmt.Errorf("longer than %d characters", MaxLen)
	ErrBadStart = errors.New("does not start with a letter")
)

// Normalize lowercases s and maps '-', '.' and ' ' to '_' (so HTTP header
// names like User-Agent become user_agent). Any other character outside
// [a-z0-9_] makes it invalid: it is rejected, not stripped, so two different
// event types can never collapse onto one table by accident.
func Normalize(s string) (string, error) {
	if s == "" {
		return "", ErrEmpty
	}
	if len(s) > MaxLen {
		return "", ErrTooLong
	}
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			b[i] = c
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c == '-' || c == '.' || c == ' ':
			b[i] = '_'
		default:
			// Quote the character, not its first byte: é is 2 bytes, and
			// byte 0xC3 would print as 'Ã'.
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", fmt.Errorf("contains the byte 0x%02x, which is not UTF-8; allowed are ASCII letters, digits, '_', '-', '.' and ' '", c)
			}
			return "", fmt.Errorf("contains %q, allowed are ASCII letters, digits, '_', '-', '.' and ' '", r)
		}
	}
	if b[0] < 'a' || b[0] > 'z' {
		return "", ErrBadStart
	}
	return string(b), nil
}

// Valid reports whether s already is a normalized identifier.
func Valid(s string) bool {
	n, err := Normalize(s)
	return err == nil && n == s
}
