package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/silt-etl/silt/internal/ident"
)

// validateCollectAndGen checks the collector's routes and responses and
// the generator's keys, each problem naming its key and the fix.
func (c *Config) validateCollectAndGen() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.validateCollectPaths(bad)
	for i, j := range c.Jobs {
		switch {
		case j.On == "" || j.On == "always":
		case j.On == "alert" && j.Kind == "report":
		case j.On == "alert":
			bad(fmt.Sprintf("jobs[%d].on", i), "job %q: on: alert is for report jobs", j.Name)
		default:
			bad(fmt.Sprintf("jobs[%d].on", i), "job %q: %q: use always or alert", j.Name, j.On)
		}
	}
	if t := c.Ingest.DefaultEventType; t != "" && !ident.Valid(t) {
		bad("ingest.default_event_type", "%q is not a table name: use lowercase letters, digits and _, starting with a letter (SILT_INGEST_DEFAULT_EVENT_TYPE)", t)
	}
	if c.Gen.Rate < 0 {
		bad("gen.rate", "%g: use events per second, 0 for none (SILT_GEN_RATE)", c.Gen.Rate)
	}
	return errors.Join(errs...)
}

// reservedPaths are the collector's own; no route or POST path may take them.
var reservedPaths = map[string]bool{"/healthz": true, "/metrics": true}

// validateCollectPaths checks collect.post_paths, collect.routes and
// collect.responses: paths start with '/', no path is taken twice, and
// every response belongs to a route and answers 2xx.
func (c *Config) validateCollectPaths(bad func(key, format string, args ...any)) {
	col := c.Collect
	if len(col.PostPaths) == 0 {
		bad("collect.post_paths", "empty: list at least one path, e.g. [/events] (SILT_COLLECT_POST_PATHS=/events,/api/events)")
	}
	seen := map[string]string{}
	checkPath := func(key, p string) {
		switch {
		case !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "{} \t"):
			bad(key, "%q: a path starts with / and holds no braces or spaces", p)
		case reservedPaths[p] || strings.HasPrefix(p, "/api/events/"):
			bad(key, "%q is the collector's own (/healthz, /metrics, the events API under /api/events/): choose another path", p)
		case seen[p] != "":
			bad(key, "%q is also in %s: each path once", p, seen[p])
		default:
			seen[p] = key
		}
	}
	for _, p := range col.PostPaths {
		checkPath("collect.post_paths", p)
	}
	routes := make([]string, 0, len(col.Routes))
	for p := range col.Routes {
		routes = append(routes, p)
	}
	sort.Strings(routes)
	for _, p := range routes {
		checkPath("collect.routes", p)
	}
	for p, r := range col.Responses {
		key := "collect.responses." + p
		if _, ok := col.Routes[p]; !ok {
			bad(key, "%q is not a GET route: add it to collect.routes, or remove the response", p)
		}
		if r.Status < 200 || r.Status > 299 {
			bad(key+".status", "%d: a route answers success with a 2xx status, e.g. 200", r.Status)
		}
	}
}
