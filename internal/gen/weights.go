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
// proportion to its weight: [purchase_sword=3 default] is 3:1. A weight of
// 0 leaves a name out; a list whose weights are all 0 is an error (an
// empty result would make Events fall back to its defaults, silently
// publishing names nobody asked for). An empty list gives nil: the
// defaults.
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
	if len(list) > 0 && len(out) == 0 {
		return nil, fmt.Errorf("%s: every weight is 0: give at least one a weight above 0", strings.Join(list, ","))
	}
	return out, nil
}
