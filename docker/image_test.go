package docker

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined; comments and parser directives are dropped.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []instruction
	var cur strings.Builder
	start, n := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfilesLint runs hadolint on both images; any finding, down to
// info, fails (ignores are inline, each with its reason).
func TestDockerfilesLint(t *testing.T) {
	root := repoRoot(t)
	bin := hadolint.path(t)
	for _, df := range []string{"docker/Dockerfile", "docker/hive/Dockerfile"} {
		cmd := exec.Command(bin, "--no-color", "--failure-threshold", "info", filepath.Join(root, df))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("hadolint %s: %v\n%s", df, err, out)
		}
	}
}

// TestDockerfileRules are the rules the issue names, written out so they
// hold whatever hadolint's defaults become.
func TestDockerfileRules(t *testing.T) {
	root := repoRoot(t)
	for _, df := range []string{"docker/Dockerfile", "docker/hive/Dockerfile"} {
		ins := parseDockerfile(t, filepath.Join(root, df))
		var froms []instruction
		lastUser := ""
		for _, in := range ins {
			switch in.cmd {
			case "FROM":
				froms = append(froms, in)
				lastUser = ""
				image := strings.Fields(in.args)[0]
				if strings.Contains(image, "$") {
					t.Errorf("%s:%d: base image %q from a build arg cannot be checked for a pin", df, in.line, image)
				}
				checkImagePinned(t, df, image)
			case "USER":
				lastUser = in.args
			case "ADD":
				if strings.Contains(in.args, "://") {
					t.Errorf("%s:%d: ADD of a URL: fetch with a package manager and verify a checksum", df, in.line)
				}
			}
		}
		if len(froms) < 2 {
			t.Errorf("%s: %d stage(s): build tools stay out of the final image with a multi-stage build", df, len(froms))
		}
		if lastUser == "" || lastUser == "root" || lastUser == "0" || strings.HasPrefix(lastUser, "0:") {
			t.Errorf("%s: final stage runs as %q: set a non-root USER", df, lastUser)
		}
	}

	ins := parseDockerfile(t, filepath.Join(root, "docker", "Dockerfile"))
	build := goBuildLine(t, ins)
	if !strings.HasPrefix(build, "CGO_ENABLED=1 ") {
		t.Errorf("go build line %q: DuckDB needs CGO_ENABLED=1", build)
	}
	var entry string
	var froms []string
	for _, in := range ins {
		switch in.cmd {
		case "ENTRYPOINT":
			entry = in.args
		case "FROM":
			froms = append(froms, strings.Fields(in.args)[0])
		}
	}
	if entry != `["silt"]` {
		t.Errorf("ENTRYPOINT %s, want [\"silt\"] in exec form", entry)
	}
	// A cgo binary needs the glibc it was linked against: builder and final
	// stage come from the same Debian release.
	builder, final := froms[0], froms[len(froms)-1]
	if !strings.Contains(builder, "-bookworm") || !strings.HasPrefix(final, "debian:12.") {
		t.Errorf("builder %s and final %s: both must be Debian 12 (bookworm) for glibc compatibility", builder, final)
	}
}

// goBuildLine is the RUN line that builds silt, as the image runs it.
func goBuildLine(t *testing.T, ins []instruction) string {
	t.Helper()
	var lines []string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			lines = append(lines, in.args)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want exactly one go build RUN line in docker/Dockerfile, found %q", lines)
	}
	if !strings.Contains(lines[0], " -o /out/silt ") {
		t.Fatalf("go build line %q: the checks expect -o /out/silt", lines[0])
	}
	return lines[0]
}

// glibcSlim are the shared libraries debian:12-slim has once the Dockerfile
// installs libstdc++6 (which apt already depends on).
var glibcSlim = map[string]bool{
	"libc.so.6": true, "libm.so.6": true, "libdl.so.2": true, "libpthread.so.0": true,
	"librt.so.1": true, "libresolv.so.2": true, "ld-linux-x86-64.so.2": true,
	"libstdc++.so.6": true, "libgcc_s.so.1": true,
}

// TestDockerfileGoBuild runs the Dockerfile's go build line on this machine,
// unchanged but for the output path, and checks that the binary needs no
// library the final stage lacks. The first run compiles everything with
// -trimpath (minutes on 2 cores); later runs hit the build cache.
func TestDockerfileGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds silt with the Dockerfile's flags: minutes without a warm cache")
	}
	root := repoRoot(t)
	line := goBuildLine(t, parseDockerfile(t, filepath.Join(root, "docker", "Dockerfile")))
	out := filepath.Join(t.TempDir(), "silt")
	cmd := exec.Command("sh", "-c", strings.Replace(line, " -o /out/silt ", " -o "+out+" ", 1))
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("open built binary: %v", err)
	}
	defer func() { _ = f.Close() }()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("read DT_NEEDED: %v", err)
	}
	if len(libs) == 0 {
		t.Errorf("binary is static: the line no longer builds with cgo")
	}
	hasStdCXX := false
	for _, l := range libs {
		hasStdCXX = hasStdCXX || l == "libstdc++.so.6"
		if !glibcSlim[l] {
			t.Errorf("binary needs %s, which the debian slim final stage does not install", l)
		}
	}
	if !hasStdCXX {
		t.Errorf("binary does not link libstdc++ (libs %v): is DuckDB still in?", libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("binary keeps its symbol table: -ldflags=\"-s -w\" should strip it")
	}

	help, err := exec.Command(out, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "collect") || !strings.Contains(string(help), "gen") {
		t.Errorf("built silt --help: %v\n%s", err, help)
	}
}
