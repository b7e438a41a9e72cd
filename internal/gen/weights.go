package gen

import (
	"fmt"
	"strconv"
	"strings"
)

// maxWeighted bounds the expanded list so a typo like "x=1000000" fails.
const maxWeighted = 10_000

// Weighted expands "name=weight" entries (weight a whole number, default
// 1) into repeats, so Events, which picks uniformly, picks each name in
// proportion to its weight: [purchase_sword=3 default] is 3:1.
func Weighted(list []string) ([]string, error) {
	var out []string
	for _, item := range list {
		name, w, found := strings.Cut(item, "=")
		n := 1
		if found {
			var err error
			if n, err = strconv.Atoi(w); err != nil || n < 0 {
				return nil, fmt.Errorf("%q: the weight after = must be a whole number", item)
			}
		}
		if name == "" {
			return nil, fmt.Errorf("%q: empty name", item)
		}
		for range n {
			out = append(out, name)
		}
		if len(out) > maxWeighted {
			return nil, fmt.Errorf("weights add up to more than %d: use smaller ones", maxWeighted)
		}
	}
	return out, nil
}
