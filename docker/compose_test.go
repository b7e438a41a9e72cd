package docker

import (
	"bufio"
	"encoding/json"
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
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	Healthcheck *struct {
		Test    []string `json:"test"`
		Disable bool     `json:"disable"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Volumes []struct {
		Type     string `json:"type"`
		Source   string `json:"source"`
		Target   string `json:"target"`
		ReadOnly bool   `json:"read_only"`
	} `json:"volumes"`
	Ports []struct {
		HostIP    string `json:"host_ip"`
		Published string `json:"published"`
		Target    int    `json:"target"`
	} `json:"ports"`
	Profiles []string `json:"profiles"`
	Restart  string   `json:"restart"`
}

// oneShot services run to completion (restart "no"): no health check, and
// others wait for them with service_completed_successfully.
func (s composeService) oneShot() bool { return s.Restart == "no" }

// composeConfig resolves docker/compose.yml with Docker Compose v2 itself,
// with every profile, in an environment holding only envFile's values.
func composeConfig(t *testing.T, envFile string) (composeProject, []byte, error) {
	t.Helper()
	root := repoRoot(t)
	cmd := exec.Command(composeCLI.path(t), "-f", filepath.Join(root, "docker", "compose.yml"),
		"--env-file", envFile, "--profile", "load", "config", "--format", "json")
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
	want := []string{"kafka", "minio", "create-bucket", "postgres", "hive-metastore", "trino", "silt", "collector", "gen"}
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
	root := repoRoot(t)
	p, stderr, err := composeConfig(t, filepath.Join(root, "docker", ".env.example"))
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, stderr)
	}
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
			switch v.Type {
			case "bind":
				checkBindMount(t, root, name, v.Source, v.ReadOnly)
			case "volume":
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
	if i := strings.Index(image, "@sha256:"); i > 0 {
		return
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if image == "" || colon < slash {
		t.Errorf("%s: image %q has no tag", service, image)
		return
	}
	tag := image[colon+1:]
	if tag == "latest" || !tagRE.MatchString(tag) {
		t.Errorf("%s: image %q: pin a version tag", service, image)
	}
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
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", "compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse compose.yml: %v", err)
	}
	secretKey := regexp.MustCompile(`(?i)(password|secret|_key(_id)?$|token)`)
	required := regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`)
	services, _ := doc["services"].(map[string]any)
	for name, s := range services {
		env, _ := s.(map[string]any)["environment"].(map[string]any)
		for k, v := range env {
			val, _ := v.(string)
			if secretKey.MatchString(k) && !required.MatchString(val) {
				t.Errorf("%s: %s = %q: take it from the environment as ${VAR:?message}", name, k, val)
			}
			// Secrets inside a longer value, like SERVICE_OPTS's JDBC password.
			for _, m := range regexp.MustCompile(`(?i)password=(\$\{[^}]*\}|\S*)`).FindAllStringSubmatch(val, -1) {
				if !required.MatchString(m[1]) {
					t.Errorf("%s: %s has a literal password %q", name, k, m[1])
				}
			}
		}
	}

	// Every required variable is in .env.example, so copying it is enough.
	example := map[string]bool{}
	f, err := os.Open(filepath.Join(repoRoot(t), "docker", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, _, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			example[k] = true
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+):\?`).FindAllStringSubmatch(string(raw), -1) {
		if !example[m[1]] {
			t.Errorf("compose requires %s, which .env.example does not set", m[1])
		}
	}
}
