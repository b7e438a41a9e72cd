package stack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// versions.go is the one place a version is written: no launcher source
// names a maven-dependency-plugin version of its own.
func TestMavenPluginVersionPinnedOnce(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	literal := regexp.MustCompile(`maven-dependency-plugin:\d[\w.-]*`)
	for _, f := range files {
		if f == "versions.go" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := literal.Find(b); m != nil {
			t.Errorf("%s pins %s itself: use mavenDependencyPlugin (versions.go)", f, m)
		}
	}
}
