// Package version is silt's own version: what `silt version` prints and
// what the Parquet files silt writes name as their writer.
package version

import (
	"runtime/debug"
	"sync"
)

// Version is silt's release, set at link time with
// -ldflags "-X github.com/silt-etl/silt/internal/version.Version=v1.2.3";
// "dev" in a plain go build.
var Version = "dev"

// Build is the VCS revision go build stamped into the binary (12 hex
// digits, "+dirty" when the tree had changes), "" when there is none (go
// test, a build outside a checkout).
func Build() string { return build() }

var build = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(12, len(rev))] + dirty
})

// String is "silt version <Version> (build <Build>)", the form Parquet's
// created_by takes (parquet-java parses "<app> version <v> (build <b>)").
func String() string {
	s := "silt version " + Version
	if b := Build(); b != "" {
		s += " (build " + b + ")"
	}
	return s
}
