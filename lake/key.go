package lake

import (
	"fmt"
	"strings"
)

// CheckKey rejects keys that could escape the lake root: absolute paths,
// "..", empty segments and backslashes.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty object key")
	}
	if strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("object key %q: must be relative and '/'-separated", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("object key %q: empty, '.' or '..' segment", key)
		}
	}
	return nil
}
