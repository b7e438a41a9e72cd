package docker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeProject is the part of `docker compose config --format json` the
// checks read: the file after interpolation, anchors, merges and defaults.
type composeProject struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
	Secrets  map[string]composeSecret  `json:"secrets"`
}

// composeSecret is a top-level secret: a file, or an environment variable
// of compose's own (docker/.env) copied into the container at its start.
type composeSecret struct {
	File        string `json:"file"`
	Environment string `json:"environment"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build"`
	Entrypoint  []string          `json:"entrypoint"`
	Command     []string          `json:"command"`
	User        string            `json:"user"`
	Environment map[string]string `json:"environment"`
	Healthcheck *struct {
		Test    []string `json:"test"`
		Disable bool     `json:"disable"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Volumes []composeVolume    `json:"volumes"`
	Secrets []composeSecretRef `json:"secrets"`
	Ports   []struct {
		HostIP    string `json:"host_ip"`
		Published string `json:"published"`
		Target    int    `json:"target"`
	} `json:"ports"`
	Profiles []string `json:"profiles"`
	Restart  string   `json:"restart"`
	// Set, they would be the same in every replica of a scaled service.
	ContainerName string `json:"container_name"`
	Hostname      string `json:"hostname"`
}

type composeVolume struct {
	Type     string `json:"type"`
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only"`
	Bind     *struct {
		CreateHostPath bool `json:"create_host_path"`
	} `json:"bind"`
}

// composeSecretRef is a service's use of a secret: /run/secrets/<target>
// (the source's name when no target is given), owned by uid, with mode.
type composeSecretRef struct {
	Source string  `json:"source"`
	Target string  `json:"target"`
	UID    string  `json:"uid"`
	GID    string  `json:"gid"`
	Mode   *uint32 `json:"mode"`
}

// mode is the secret file's mode in octal, "default" when unset.
func (r composeSecretRef) mode() string {
	if r.Mode == nil {
		return "default"
	}
	return fmt.Sprintf("%#o", *r.Mode)
}

// path is where the secret appears in the container.
func (r composeSecretRef) path() string {
	switch {
	case r.Target == "":
		return "/run/secrets/" + r.Source
	case strings.HasPrefix(r.Target, "/"):
		return r.Target
	default:
		return "/run/secrets/" + r.Target
	}
}

// oneShot services run to completion (restart "no"): no health check, and
// others wait for them with service_completed_successfully.
func (s composeService) oneShot() bool { return s.Restart == "no" }

// composeConfig resolves docker/compose.yml with Docker Compose v2 itself,
// with every profile, in an environment holding only envFile's values.
func composeConfig(t *testing.T, envFile string) (composeProject, []byte, error) {
	t.Helper()
	return composeConfigFiles(t, envFile, "compose.yml")
}

// composeConfigFiles resolves the compose files of docker/, each over the
// ones before it, as `docker compose -f a -f b ... config` does.
func composeConfigFiles(t *testing.T, envFile string, files ...string) (composeProject, []byte, error) {
	t.Helper()
	root := repoRoot(t)
	var args []string
	for _, f := range files {
		args = append(args, "-f", filepath.Join(root, "docker", f))
	}
	args = append(args, "--env-file", envFile, "--profile", "load", "--profile", "observability", "config", "--format", "json")
	cmd := exec.Command(composeCLI.path(t), args...)
	// Nothing from the caller's environment may fill a ${VAR}: the file and
	// the env file alone must resolve.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return composeProject{}, ee.Stderr, err
		}
		return composeProject{}, nil, err
	}
	var p composeProject
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("decode compose config: %v", err)
	}
	return p, out, nil
}

func TestComposeResolves(t *testing.T) {
	p, stderr, err := composeConfig(t, filepath.Join(repoRoot(t), "docker", ".env.example"))
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, stderr)
	}
	want := []string{"kafka", "minio", "create-bucket", "postgres", "hive-metastore", "trino", "silt", "collector", "gen", "prometheus", "grafana"}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	if len(p.Services) != len(want) {
		t.Errorf("%d services, want %d: a new service needs a place in these checks", len(p.Services), len(want))
	}
	if got := p.Services["gen"].Profiles; len(got) != 1 || got[0] != "load" {
		t.Errorf("gen profiles = %v, want [load]: load must not start with a plain up", got)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		if got := p.Services[name].Profiles; len(got) != 1 || got[0] != "observability" {
			t.Errorf("%s profiles = %v, want [observability]: it starts only when asked for", name, got)
		}
	}
}

// TestComposeNeedsSecrets: without docker/.env the stack refuses to start,
// naming the variable, rather than running with a default password.
func TestComposeNeedsSecrets(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := composeConfig(t, empty)
	if err == nil {
		t.Fatal("compose config succeeded without MINIO_ROOT_USER and the passwords")
	}
	if !strings.Contains(string(stderr), "MINIO_ROOT_USER") && !strings.Contains(string(stderr), "PASSWORD") {
		t.Errorf("error does not name the missing variable:\n%s", stderr)
	}
}

func TestComposeRules(t *testing.T) {
	p, stderr, err := composeConfig(t, filepath.Join(repoRoot(t), "docker", ".env.example"))
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, stderr)
	}
	checkComposeRules(t, p, nil)
}

// checkComposeRules holds a resolved project to the stack's rules. A bind
// mount must be a read-only file of the repository, unless otherBind (when
// given) accepts it by returning true after checking it its own way.
func checkComposeRules(t *testing.T, p composeProject, otherBind func(service string, v composeVolume) bool) {
	t.Helper()
	root := repoRoot(t)
	for name, s := range p.Services {
		checkImagePinned(t, name, s.Image)
		if s.oneShot() {
			if s.Healthcheck != nil && !s.Healthcheck.Disable {
				t.Errorf("%s: a one-shot job with a health check would never become healthy after it exits", name)
			}
		} else {
			if s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) < 2 {
				t.Errorf("%s: long-running service without a health check", name)
			}
			if s.Restart != "unless-stopped" {
				t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on unknown service %s", name, dep)
			case d.Condition == "service_completed_successfully" && !target.oneShot():
				t.Errorf("%s waits for %s to complete, but %s runs forever", name, dep, dep)
			case d.Condition == "service_healthy" && target.oneShot():
				t.Errorf("%s waits for one-shot %s to be healthy: use service_completed_successfully", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully":
				t.Errorf("%s depends on %s with condition %q: start order alone does not mean ready", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			switch {
			case v.Type == "bind" && otherBind != nil && otherBind(name, v):
			case v.Type == "bind":
				checkBindMount(t, root, name, v.Source, v.ReadOnly)
			case v.Type == "volume":
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s: volume %s is not a declared named volume", name, v.Source)
				}
			default:
				t.Errorf("%s: %s mount at %s: use a named volume or a read-only config file", name, v.Type, v.Target)
			}
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q: publish on 127.0.0.1 only", name, port.Published, port.HostIP)
			}
		}
		if s.Build != nil {
			df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if s.Build.Dockerfile == "" {
				df = filepath.Join(s.Build.Context, "Dockerfile")
			}
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: build Dockerfile: %v", name, err)
			}
		}
	}
	for _, name := range []string{"silt", "collector", "gen"} {
		s := p.Services[name]
		if s.Build == nil || s.Build.Context != root {
			t.Errorf("%s: must build from the repository root (where go.mod is), got %+v", name, s.Build)
		}
	}
	for _, name := range []string{"kafka", "minio", "postgres", "silt"} {
		named := false
		for _, v := range p.Services[name].Volumes {
			named = named || v.Type == "volume"
		}
		if !named {
			t.Errorf("%s keeps state but has no named volume", name)
		}
	}
}

var tagRE = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

func checkImagePinned(t *testing.T, service, image string) {
	t.Helper()
	if problem := imagePinProblem(image); problem != "" {
		t.Errorf("%s: %s", service, problem)
	}
}

// imagePinProblem is what is wrong with an image reference's pin, if
// anything: a digest or a version tag pins it.
func imagePinProblem(image string) string {
	if i := strings.Index(image, "@sha256:"); i > 0 {
		return ""
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if image == "" || colon < slash {
		return fmt.Sprintf("image %q has no tag", image)
	}
	tag := image[colon+1:]
	if tag == "latest" || !tagRE.MatchString(tag) {
		return fmt.Sprintf("image %q: pin a version tag", image)
	}
	return ""
}

func checkBindMount(t *testing.T, root, service, source string, readOnly bool) {
	t.Helper()
	rel, err := filepath.Rel(root, source)
	if err != nil || strings.HasPrefix(rel, "..") {
		t.Errorf("%s: bind mount %s is outside the repository", service, source)
		return
	}
	fi, err := os.Stat(source)
	switch {
	case err != nil:
		t.Errorf("%s: bind-mounted %s: %v (Docker would create an empty directory there)", service, rel, err)
	case !fi.Mode().IsRegular():
		t.Errorf("%s: bind-mounted %s is not a file", service, rel)
	case !readOnly:
		t.Errorf("%s: bind-mounted config %s must be read-only", service, rel)
	}
}

// TestComposeNoLiteralSecrets reads the file as written: a password, key or
// token must come from ${VAR:?...}, never a literal or a ${VAR:-default}.
func TestComposeNoLiteralSecrets(t *testing.T) {
	checkNoLiteralSecrets(t, "compose.yml", false)
}

var (
	secretKeyRE      = regexp.MustCompile(`(?i)(password|secret|_key(_id)?$|token)`)
	requiredRE       = regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`)
	inlinePasswordRE = regexp.MustCompile(`(?i)password=("[^"]*"|\$\{[^}]*\}|\S*)`)
	// jaasOptionRE is one key="value" option of a JAAS config line.
	jaasOptionRE = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// checkNoLiteralSecrets reads docker/<file> as written. An environment key
// that names a secret takes its value from ${VAR:?...}, or, with blankOK,
// is blank (an override file blanking a key the file below sets, because
// the value comes from a secret file now); passwords inside longer values,
// like a JDBC option or a JAAS config, come from ${VAR:?...} too. Every
// variable the file requires, directly or as a secret's source, is in
// .env.example.
func checkNoLiteralSecrets(t *testing.T, file string, blankOK bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Environment map[string]any `yaml:"environment"`
		} `yaml:"services"`
		Secrets map[string]struct {
			Environment string `yaml:"environment"`
		} `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	for name, s := range doc.Services {
		for k, v := range s.Environment {
			val, _ := v.(string)
			// A _FILE variable holds the path of a secret, not the secret.
			if secretKeyRE.MatchString(k) && !strings.HasSuffix(k, "_FILE") && (!blankOK || val != "") && !requiredRE.MatchString(val) {
				t.Errorf("%s: %s: %s = %q: take it from the environment as ${VAR:?message}", file, name, k, val)
			}
			// Secrets inside a longer value, like SERVICE_OPTS's JDBC password.
			for _, m := range inlinePasswordRE.FindAllStringSubmatch(val, -1) {
				if !requiredRE.MatchString(strings.Trim(m[1], `"`)) {
					t.Errorf("%s: %s: %s has a literal password %q", file, name, k, m[1])
				}
			}
			// A JAAS config's password and its user_NAME passwords.
			for _, m := range jaasOptionRE.FindAllStringSubmatch(val, -1) {
				if (m[1] == "password" || strings.HasPrefix(m[1], "user_")) && !requiredRE.MatchString(m[2]) {
					t.Errorf("%s: %s: %s has a literal %s %q", file, name, k, m[1], m[2])
				}
			}
		}
	}

	// Every required variable is in .env.example, so copying it is enough.
	example := envFileValues(t, filepath.Join(repoRoot(t), "docker", ".env.example"))
	var code []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			code = append(code, line)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+):\?`).FindAllStringSubmatch(strings.Join(code, "\n"), -1) {
		if _, ok := example[m[1]]; !ok {
			t.Errorf("%s requires %s, which .env.example does not set", file, m[1])
		}
	}
	for name, sec := range doc.Secrets {
		if _, ok := example[sec.Environment]; sec.Environment != "" && !ok {
			t.Errorf("%s: secret %s comes from %s, which .env.example does not set", file, name, sec.Environment)
		}
	}
}

// envFileValues reads a docker/.env-style file: KEY=VALUE lines, # comments.
func envFileValues(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	values := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			values[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return values
}
