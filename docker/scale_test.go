package docker

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/silt-etl/silt/internal/config"
)

// `docker compose up --scale silt=N` starts N containers from the one
// service definition, with the same settings. Compose's `config` does not
// check what would collide between them (it accepts a container_name or a
// fixed host port on a scaled service; the engine fails later), so these
// tests do, on the project compose resolves, plain and secured.

// scaleExample is the replica count the README shows: `--scale silt=3`.
const scaleExample = 3

func TestComposeScales(t *testing.T) {
	env := filepath.Join(repoRoot(t), "docker", ".env.example")
	for _, files := range [][]string{{"compose.yml"}, {"compose.yml", "compose.secure.yml"}} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			p, stderr, err := composeConfigFiles(t, env, files...)
			if err != nil {
				t.Fatalf("docker compose config: %v\n%s", err, stderr)
			}
			for _, problem := range scaleProblems(t, p, "silt", scaleExample) {
				t.Error(problem)
			}
		})
	}
}

// TestComposeScaleRulesCatch breaks the resolved silt service one way at a
// time, as an edit of compose.yml or silt.yaml would, and each must be
// caught: a rule that cannot fail checks nothing.
func TestComposeScaleRulesCatch(t *testing.T) {
	p, stderr, err := composeConfig(t, filepath.Join(repoRoot(t), "docker", ".env.example"))
	if err != nil {
		t.Fatalf("docker compose config: %v\n%s", err, stderr)
	}
	breaks := []struct {
		name, want string
		edit       func(s *composeService)
	}{
		{"container_name", "container_name", func(s *composeService) { s.ContainerName = "silt" }},
		{"hostname", "hostname", func(s *composeService) { s.Hostname = "silt" }},
		{"one host port", "host port 8321", func(s *composeService) { s.Ports[0].Published = "8321" }},
		{"short range", "8321-8322", func(s *composeService) { s.Ports[0].Published = "8321-8322" }},
		{"instance id", "instance_id", func(s *composeService) { s.Environment["SILT_KAFKA_INSTANCE_ID"] = "silt-1" }},
		{"one partition", "partitions", func(s *composeService) { s.Environment["SILT_KAFKA_PARTITIONS"] = "1" }},
		{"shared volume over the spool", "ingest.spool_dir", func(s *composeService) {
			s.Volumes = append(s.Volumes, composeVolume{Type: "volume", Source: "silt-reports", Target: "/var/lib/silt"})
		}},
		{"shared bind mount over the spool", "ingest.spool_dir", func(s *composeService) {
			s.Volumes = append(s.Volumes, composeVolume{Type: "bind", Source: "/srv/spool", Target: "/var/lib/silt/spool", ReadOnly: true})
		}},
		{"spool outside the image's directories", "Dockerfile does not create", func(s *composeService) {
			s.Environment["SILT_INGEST_SPOOL_DIR"] = "/var/spool/silt"
		}},
		{"another shared writable volume", "/var/lib/silt/state is shared writable", func(s *composeService) {
			s.Volumes = append(s.Volumes, composeVolume{Type: "volume", Source: "silt-reports", Target: "/var/lib/silt/state"})
		}},
		{"reports off the shared volume", "is not a named volume", func(s *composeService) {
			s.Environment["SILT_REPORTS_OUT"] = "/var/lib/silt/spool/reports"
		}},
	}
	for _, b := range breaks {
		t.Run(b.name, func(t *testing.T) {
			q := p
			q.Services = map[string]composeService{}
			for name, s := range p.Services {
				q.Services[name] = s
			}
			s := cloneService(p.Services["silt"])
			b.edit(&s)
			q.Services["silt"] = s
			problems := scaleProblems(t, q, "silt", scaleExample)
			if !strings.Contains(strings.Join(problems, "\n"), b.want) {
				t.Errorf("not caught (no problem names %q): %q", b.want, problems)
			}
		})
	}
}

func cloneService(s composeService) composeService {
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = v
	}
	s.Environment = env
	s.Volumes = append([]composeVolume(nil), s.Volumes...)
	s.Ports = append(s.Ports[:0:0], s.Ports...)
	return s
}

// scaleProblems is what would break with `--scale name=replicas`: names
// and host ports every replica would claim, a Kafka instance id they would
// share, per-process files on a mount they would share.
func scaleProblems(t *testing.T, p composeProject, name string, replicas int) []string {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(name+": "+format, args...))
	}
	s, ok := p.Services[name]
	if !ok {
		return []string{"no service " + name}
	}
	if s.ContainerName != "" {
		bad("container_name %q: a second replica cannot take the same name", s.ContainerName)
	}
	// The lease holder is named by instance id, else hostname-pid, and silt
	// is pid 1 in every container.
	if s.Hostname != "" {
		bad("hostname %q: every replica would have it, and name itself the same as lease holder", s.Hostname)
	}
	for _, port := range s.Ports {
		first, last, err := portRange(port.Published)
		switch {
		case err != nil:
			bad("port %q: %v", port.Published, err)
		case port.Published == "":
			// An ephemeral host port per replica.
		case first == last:
			bad("host port %d (container port %d) can be published by one replica only: publish a range of at least %d ports, or no host port", first, port.Target, replicas)
		case last-first+1 < replicas:
			bad("host port range %s holds %d ports, fewer than the %d replicas of --scale %s=%d", port.Published, last-first+1, replicas, name, replicas)
		}
	}

	cfg := loadServiceConfig(t, p, name)
	if cfg.Kafka.InstanceID != "" {
		bad("kafka.instance_id %q: every replica would join with it and fence the others out of the group; leave it unset (dynamic membership)", cfg.Kafka.InstanceID)
	}
	if !cfg.Kafka.CreateTopics || cfg.Kafka.Partitions < int32(replicas) {
		bad("kafka.create_topics %v, kafka.partitions %d: the topic needs at least %d partitions for %d replicas to ingest", cfg.Kafka.CreateTopics, cfg.Kafka.Partitions, replicas, replicas)
	}

	// A named volume or a bind mount is the same directory in every
	// replica. Only reports.out may be shared (a report's files are written
	// through a temp file and a rename); the spool, and DuckDB when it is
	// the catalog, are one process's own.
	own := map[string]string{"ingest.spool_dir": cfg.Ingest.SpoolDir}
	if cfg.Catalog.Kind == "duckdb" {
		own["catalog.duckdb.path"] = filepath.Dir(cfg.Catalog.DuckDB.Path)
	}
	for _, v := range s.Volumes {
		shared := v.Type == "bind" || v.Type == "volume" && v.Source != ""
		if !shared {
			continue // an anonymous volume or a tmpfs is per container
		}
		for key, dir := range own {
			if under(dir, v.Target) {
				bad("%s %s is on %s %s at %s, which every replica shares", key, dir, v.Type, v.Source, v.Target)
			}
		}
		if !v.ReadOnly && v.Target != cfg.Reports.Out {
			bad("%s %s at %s is shared writable by every replica: only reports.out (%s) may be", v.Type, v.Source, v.Target, cfg.Reports.Out)
		}
	}
	sharedReports := false
	for _, v := range s.Volumes {
		sharedReports = sharedReports || v.Type == "volume" && v.Source != "" && v.Target == cfg.Reports.Out
	}
	if !sharedReports {
		bad("reports.out %s is not a named volume: each replica's status page would show only the reports it ran", cfg.Reports.Out)
	}

	// A directory in the container's own file system (the spool), or one a
	// fresh named volume copies its owner from (reports.out), must exist in
	// the image, owned by silt's user: silt does not create the spool.
	dirs, owned := imageDirs(t)
	for key, dir := range map[string]string{"ingest.spool_dir": cfg.Ingest.SpoolDir, "reports.out": cfg.Reports.Out} {
		if !dirs[dir] || !under(dir, owned) {
			bad("%s %s: docker/Dockerfile does not create it owned by silt (it creates %v, owns %s)", key, dir, slices.Sorted(maps.Keys(dirs)), owned)
		}
	}
	return problems
}

// portRange parses a published host port: "", "8321" or "8321-8330".
func portRange(published string) (first, last int, err error) {
	if published == "" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(published, "-")
	if first, err = strconv.Atoi(a); err != nil {
		return 0, 0, err
	}
	last = first
	if isRange {
		if last, err = strconv.Atoi(b); err != nil || last < first {
			return 0, 0, fmt.Errorf("not a port range")
		}
	}
	return first, last, nil
}

// under is true when path is dir or inside it.
func under(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// loadServiceConfig loads the silt.yaml the service mounts, with the
// service's environment, as silt does in its container. A _FILE variable
// names a file in the container (a Docker secret, a CA); it gets a
// placeholder file here: what is in it is TestSecureStackConfig's concern.
func loadServiceConfig(t *testing.T, p composeProject, name string) *config.Config {
	t.Helper()
	s := p.Services[name]
	cfgPath := mountedConfig(t, s, name)
	clearSiltEnv(t)
	dir := t.TempDir()
	for k, v := range s.Environment {
		if strings.HasSuffix(k, "_FILE") && v != "" {
			local := filepath.Join(dir, k)
			writeTestFile(t, local, "placeholder")
			v = local
		}
		t.Setenv(k, v)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("silt rejects %s's config: %v", name, err)
	}
	return cfg
}

var (
	mkdirRE = regexp.MustCompile(`mkdir -p ((?:/\S+ ?)+)`)
	chownRE = regexp.MustCompile(`chown -R 10001:10001 (/\S+)`)
)

// imageDirs are the directories silt's image creates, and the one it gives
// to silt's user (uid 10001), from docker/Dockerfile's final stage.
func imageDirs(t *testing.T) (map[string]bool, string) {
	t.Helper()
	dirs := map[string]bool{}
	owned := "(none)"
	final := false
	for _, in := range parseDockerfile(t, filepath.Join(repoRoot(t), "docker", "Dockerfile")) {
		if in.cmd == "FROM" {
			final = !strings.Contains(in.args, " AS ")
		}
		if !final || in.cmd != "RUN" {
			continue
		}
		for _, m := range mkdirRE.FindAllStringSubmatch(in.args, -1) {
			for _, d := range strings.Fields(m[1]) {
				dirs[d] = true
			}
		}
		if m := chownRE.FindStringSubmatch(in.args); m != nil {
			owned = m[1]
		}
	}
	return dirs, owned
}

// mountedConfig is the host path of the silt.yaml service name mounts at
// /etc/silt/silt.yaml, where silt's image reads it.
func mountedConfig(t *testing.T, s composeService, name string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == "/etc/silt/silt.yaml" {
			return v.Source
		}
	}
	t.Fatalf("%s does not mount silt.yaml at /etc/silt/silt.yaml", name)
	return ""
}
