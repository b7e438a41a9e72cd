package docker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/silt-etl/silt/internal/config"
	reportsql "github.com/silt-etl/silt/sql"
)

// docker/k8s/silt-statefulset.yaml, the Kubernetes example, checked without
// a cluster: decoded strictly into the subset of the Kubernetes API it uses
// (a misspelt field fails, as the API server's field validation would),
// then held to what running several silt processes needs, and its
// ConfigMap's silt.yaml loaded by silt's own config loader with the pod's
// environment and files. TestK8sManifestRulesCatch breaks each rule once.

const k8sManifest = "k8s/silt-statefulset.yaml"

func TestK8sManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", k8sManifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range k8sProblems(t, raw) {
		t.Error(problem)
	}
}

// TestK8sManifestRulesCatch: every rule must be able to fail. Each case
// edits the manifest's text once; the checks must then name the problem.
func TestK8sManifestRulesCatch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", k8sManifest))
	if err != nil {
		t.Fatal(err)
	}
	breaks := []struct{ name, old, new, want string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:", "field readinesProbe not found"},
		{"not a StatefulSet", "kind: StatefulSet", "kind: Deployment", "kind Deployment"},
		{"one replica", "replicas: 3", "replicas: 1", "replicas 1"},
		{"instance id from the pod's uid", "fieldPath: metadata.name", "fieldPath: metadata.uid", "SILT_KAFKA_INSTANCE_ID"},
		{"instance id fixed", "valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name", `value: "silt"`, "SILT_KAFKA_INSTANCE_ID"},
		{"no instance id", "name: SILT_KAFKA_INSTANCE_ID", "name: SILT_KAFKA_CLIENT_ID", "SILT_KAFKA_CLIENT_ID is not a silt setting"},
		{"not a silt setting", "name: SILT_INGEST_SPOOL_DIR", "name: SILT_SPOOL_DIR", "SILT_SPOOL_DIR is not a silt setting"},
		{"config rejected", "mechanism: scram-sha-512", "mechanism: scram-sha-1", "silt rejects"},
		{"config key unknown", "    ingest:\n", "    ingest:\n      spool: /tmp\n", "silt rejects"},
		{"report unknown", "report: host_breakdown", "report: host_breakdwon", "host_breakdwon"},
		{"readiness on healthz", "path: /readyz", "path: /healthz", "readinessProbe"},
		{"liveness on readyz", "path: /healthz", "path: /readyz", "livenessProbe"},
		{"probe on another port", "              path: /readyz\n              port: http", "              path: /readyz\n              port: 8080", "readinessProbe"},
		{"listen on loopback", `value: "0.0.0.0:8321"`, `value: "127.0.0.1:8321"`, "http.listen"},
		{"listen on another port", `value: "0.0.0.0:8321"`, `value: "0.0.0.0:9321"`, "http.listen"},
		{"secret in the environment", "name: SILT_TRINO_PASSWORD_FILE\n              value: /etc/silt/secrets/trino-password", "name: SILT_TRINO_PASSWORD\n              value: hunter2", "SILT_TRINO_PASSWORD"},
		{"secret from a secretKeyRef", "name: SILT_KAFKA_SASL_PASSWORD_FILE\n              value: /etc/silt/secrets/kafka-password", "name: SILT_KAFKA_SASL_PASSWORD\n              valueFrom:\n                secretKeyRef: {name: silt, key: kafka-password}", "SILT_KAFKA_SASL_PASSWORD"},
		{"secret file outside the mount", "value: /etc/silt/secrets/s3-secret-key", "value: /run/s3-secret-key", "SILT_S3_SECRET_KEY_FILE"},
		{"secret file not in the Secret", "- {key: trino-password, path: trino-password}", "- {key: trino-password, path: trino}", "SILT_TRINO_PASSWORD_FILE"},
		{"secret file world-readable", "defaultMode: 0440", "defaultMode: 0444", "defaultMode"},
		{"a Secret with data", "---\n# Headless", "---\napiVersion: v1\nkind: Secret\nmetadata: {name: silt}\nstringData: {trino-password: hunter2}\n---\n# Headless", "Secret"},
		{"spool on the image", "            - name: spool\n              mountPath: /var/lib/silt/spool\n", "", "ingest.spool_dir"},
		{"no resources", "            limits:\n              memory: 1Gi\n", "", "limits.memory"},
		{"memory limit above the pod's", "value: 768MiB", "value: 2GiB", "ingest.memory_limit"},
		{"short grace", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds"},
		{"service not headless", "clusterIP: None", "clusterIP: 10.0.0.10", "headless"},
		{"service elsewhere", "serviceName: silt", "serviceName: silt-headless", "serviceName"},
		{"config not where --config reads", `args: ["run", "--config", "/etc/silt/silt.yaml"]`, `args: ["run", "--config", "/etc/silt.yaml"]`, "--config"},
		{"fewer partitions than pods", "partitions: 6", "partitions: 2", "kafka.partitions"},
		{"runs as root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"},
		{"old apiVersion", "apiVersion: apps/v1", "apiVersion: apps/v1beta1", "apiVersions"},
		{"two ConfigMaps", "---\n# Headless", "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n---\n# Headless", "2 ConfigMap(s)"},
		{"selector misses the pods", "    matchLabels:\n      app.kubernetes.io/name: silt", "    matchLabels:\n      app.kubernetes.io/name: silt-other", "StatefulSet: selector"},
		{"service misses the pods", "  selector:\n    app.kubernetes.io/name: silt\n  ports:", "  selector:\n    app.kubernetes.io/name: silt-other\n  ports:", "Service: selector"},
		{"no silt container", "- name: silt\n          image:", "- name: app\n          image:", "no container named silt"},
		{"image unpinned", "image: silt:dev", "image: silt:latest", "pin a version tag"},
		{"mount without a volume", "        - name: tmp\n          emptyDir:", "        - name: scratch\n          emptyDir:", "no volume tmp"},
		{"secrets mounted writable", "mountPath: /etc/silt/secrets\n              readOnly: true\n", "mountPath: /etc/silt/secrets\n", "Secret volume mounted writable"},
		{"root file system writable", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"not silt run", `args: ["run", "--config", "/etc/silt/silt.yaml"]`, `args: ["collect", "--config", "/etc/silt/silt.yaml"]`, "want run --config"},
		{"reports on the image", "            - name: reports\n              mountPath: /var/lib/silt/reports\n", "", "reports.out"},
		{"DuckDB catalog", "      kind: trino", "      kind: duckdb", "catalog.kind duckdb"},
		{"liveness probe not http", "            httpGet:\n              path: /healthz\n              port: http\n", "", "livenessProbe: want"},
		{"password in the ConfigMap", "url: https://trino:8443", "url: https://silt:hunter2@trino:8443", "not from a file of the Secret"},
		{"service to another port", "targetPort: http", "targetPort: 8080", "targetPort 8080"},
	}
	for _, b := range breaks {
		t.Run(b.name, func(t *testing.T) {
			if bytes.Count(raw, []byte(b.old)) != 1 {
				t.Fatalf("the manifest holds %q %d times, want once: update this case", b.old, bytes.Count(raw, []byte(b.old)))
			}
			problems := k8sProblems(t, bytes.Replace(raw, []byte(b.old), []byte(b.new), 1))
			t.Log(strings.Join(problems, "\n"))
			if !strings.Contains(strings.Join(problems, "\n"), b.want) {
				t.Errorf("not caught (no problem names %q): %q", b.want, problems)
			}
		})
	}
}

// The subset of the Kubernetes API the example uses. Decoded with
// KnownFields, so a field these types lack fails: add it here with care.
type (
	k8sHead struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	k8sMeta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	k8sConfigMap struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   k8sMeta           `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
	}
	k8sService struct {
		APIVersion string  `yaml:"apiVersion"`
		Kind       string  `yaml:"kind"`
		Metadata   k8sMeta `yaml:"metadata"`
		Spec       struct {
			ClusterIP string            `yaml:"clusterIP"`
			Selector  map[string]string `yaml:"selector"`
			Ports     []struct {
				Name       string      `yaml:"name"`
				Port       int         `yaml:"port"`
				TargetPort intOrString `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	k8sStatefulSet struct {
		APIVersion string  `yaml:"apiVersion"`
		Kind       string  `yaml:"kind"`
		Metadata   k8sMeta `yaml:"metadata"`
		Spec       struct {
			ServiceName         string `yaml:"serviceName"`
			Replicas            *int   `yaml:"replicas"`
			PodManagementPolicy string `yaml:"podManagementPolicy"`
			Selector            struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata k8sMeta    `yaml:"metadata"`
				Spec     k8sPodSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	k8sPodSpec struct {
		TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
		AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
		SecurityContext               struct {
			RunAsNonRoot   bool `yaml:"runAsNonRoot"`
			RunAsUser      int  `yaml:"runAsUser"`
			RunAsGroup     int  `yaml:"runAsGroup"`
			FSGroup        *int `yaml:"fsGroup"`
			SeccompProfile struct {
				Type string `yaml:"type"`
			} `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		Containers []k8sContainer `yaml:"containers"`
		Volumes    []k8sVolume    `yaml:"volumes"`
	}
	k8sContainer struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		ImagePullPolicy string   `yaml:"imagePullPolicy"`
		Args            []string `yaml:"args"`
		Ports           []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env            []k8sEnv  `yaml:"env"`
		ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
		LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	k8sEnv struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef    *k8sKeyRef `yaml:"secretKeyRef"`
			ConfigMapKeyRef *k8sKeyRef `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	}
	k8sKeyRef struct {
		Name string `yaml:"name"`
		Key  string `yaml:"key"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string      `yaml:"path"`
			Port intOrString `yaml:"port"`
		} `yaml:"httpGet"`
		InitialDelaySeconds int `yaml:"initialDelaySeconds"`
		PeriodSeconds       int `yaml:"periodSeconds"`
		TimeoutSeconds      int `yaml:"timeoutSeconds"`
		FailureThreshold    int `yaml:"failureThreshold"`
	}
	k8sVolume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string       `yaml:"name"`
			Items []k8sKeyPath `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName  string       `yaml:"secretName"`
			DefaultMode *int         `yaml:"defaultMode"`
			Items       []k8sKeyPath `yaml:"items"`
		} `yaml:"secret"`
		EmptyDir *struct {
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
	}
	k8sKeyPath struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
)

// intOrString is a port given by number or by name.
type intOrString string

func (s *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a port number or name")
	}
	*s = intOrString(n.Value)
	return nil
}

// k8sObjects splits the manifest into its documents and decodes each
// strictly by its kind.
func k8sObjects(raw []byte) (cms []k8sConfigMap, svcs []k8sService, sts []k8sStatefulSet, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for i := 0; ; i++ {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return cms, svcs, sts, nil
		} else if err != nil {
			return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
		}
		var head k8sHead
		if err := doc.Decode(&head); err != nil {
			return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
		}
		one, err := yaml.Marshal(&doc)
		if err != nil {
			return nil, nil, nil, err
		}
		strict := yaml.NewDecoder(bytes.NewReader(one))
		strict.KnownFields(true)
		switch head.Kind {
		case "ConfigMap":
			var o k8sConfigMap
			err = strict.Decode(&o)
			cms = append(cms, o)
		case "Service":
			var o k8sService
			err = strict.Decode(&o)
			svcs = append(svcs, o)
		case "StatefulSet":
			var o k8sStatefulSet
			err = strict.Decode(&o)
			sts = append(sts, o)
		default:
			// A Secret here would put its values in a file meant for git.
			err = fmt.Errorf("kind %s: the example holds a ConfigMap, a Service and a StatefulSet (the Secret is created from files, never written here)", head.Kind)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
	}
}

// k8sProblems is everything wrong with the manifest; none means it holds.
func k8sProblems(t *testing.T, raw []byte) []string {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	cms, svcs, sets, err := k8sObjects(raw)
	if err != nil {
		return []string{err.Error()}
	}
	if len(sets) != 1 || len(svcs) != 1 || len(cms) != 1 {
		return []string{fmt.Sprintf("%d StatefulSet(s), %d Service(s), %d ConfigMap(s): want one of each (no StatefulSet of silt pods?)", len(sets), len(svcs), len(cms))}
	}
	st, svc, cm := sets[0], svcs[0], cms[0]
	if st.APIVersion != "apps/v1" || svc.APIVersion != "v1" || cm.APIVersion != "v1" {
		bad("apiVersions %s, %s, %s: want apps/v1 for the StatefulSet, v1 for the Service and ConfigMap", st.APIVersion, svc.APIVersion, cm.APIVersion)
	}

	// Several pods, found by the selector, named by a headless Service.
	spec := st.Spec
	if spec.Replicas == nil || *spec.Replicas < 2 {
		n := 1
		if spec.Replicas != nil {
			n = *spec.Replicas
		}
		bad("StatefulSet: replicas %d: the example runs several silt processes", n)
	}
	podLabels := spec.Template.Metadata.Labels
	if len(spec.Selector.MatchLabels) == 0 || !labelsMatch(spec.Selector.MatchLabels, podLabels) {
		bad("StatefulSet: selector %v does not select its pods %v", spec.Selector.MatchLabels, podLabels)
	}
	if spec.ServiceName != svc.Metadata.Name {
		bad("StatefulSet: serviceName %q is not the Service %q", spec.ServiceName, svc.Metadata.Name)
	}
	if svc.Spec.ClusterIP != "None" {
		bad("Service %s: clusterIP %q: a StatefulSet's service is headless (None)", svc.Metadata.Name, svc.Spec.ClusterIP)
	}
	if len(svc.Spec.Selector) == 0 || !labelsMatch(svc.Spec.Selector, podLabels) {
		bad("Service: selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}

	pod := spec.Template.Spec
	i := slices.IndexFunc(pod.Containers, func(c k8sContainer) bool { return c.Name == "silt" })
	if i < 0 {
		return append(problems, "the pods have no container named silt")
	}
	c := pod.Containers[i]
	if problem := imagePinProblem(c.Image); problem != "" {
		bad("container %s: %s", c.Name, problem)
	}
	sc := pod.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser != 10001 || sc.FSGroup == nil || *sc.FSGroup != sc.RunAsGroup {
		bad("securityContext: runAsNonRoot %v, runAsUser %d, fsGroup %s, runAsGroup %d: want silt's non-root user 10001 and its group as fsGroup (to read the Secret's files)", sc.RunAsNonRoot, sc.RunAsUser, show(sc.FSGroup, "%d"), sc.RunAsGroup)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= 30 {
		bad("terminationGracePeriodSeconds %s: give more than silt run's --stop-timeout (30s), or the pod is killed while its batch commits", show(g, "%d"))
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		bad("resources %+v: set requests.cpu, requests.memory and limits.memory", c.Resources)
	}

	// Where things are in the pod: each mount, and the files of each volume.
	volumes := map[string]k8sVolume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	type mount struct {
		path     string
		volume   k8sVolume
		subPath  string
		readOnly bool
	}
	var mounts []mount
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			bad("volumeMount %s: no volume %s", m.MountPath, m.Name)
			continue
		}
		mounts = append(mounts, mount{m.MountPath, v, m.SubPath, m.ReadOnly})
	}
	// fileAt is the volume item a file path in the pod is, if any.
	fileAt := func(p string) (k8sVolume, string, bool) {
		for _, m := range mounts {
			var items []k8sKeyPath
			switch {
			case m.volume.Secret != nil:
				items = m.volume.Secret.Items
			case m.volume.ConfigMap != nil:
				items = m.volume.ConfigMap.Items
			default:
				continue
			}
			for _, it := range items {
				at := path.Join(m.path, it.Path)
				if m.subPath != "" {
					if m.subPath != it.Path {
						continue
					}
					at = m.path
				}
				if at == p {
					return m.volume, it.Key, true
				}
			}
		}
		return k8sVolume{}, "", false
	}
	// emptyDirAt is the writable emptyDir mounted at exactly p.
	emptyDirAt := func(p string) bool {
		for _, m := range mounts {
			if m.volume.EmptyDir != nil && !m.readOnly && m.path == p {
				return true
			}
		}
		return false
	}
	var secretMount string
	for _, m := range mounts {
		if m.volume.Secret != nil {
			secretMount = m.path
			if mode := m.volume.Secret.DefaultMode; mode == nil || *mode&0o007 != 0 || *mode&0o040 == 0 {
				bad("Secret volume %s: defaultMode %s: want the files readable by silt's group (fsGroup) and no one else, e.g. 0440", m.volume.Name, show(mode, "%#o"))
			}
			if !m.readOnly {
				bad("Secret volume mounted writable at %s", m.path)
			}
		}
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem {
		bad("readOnlyRootFilesystem is false: silt writes only its spool and reports, on emptyDirs")
	}

	// The environment: silt's settings only, the instance id from the pod.
	settings := siltSettings()
	env := map[string]string{}
	var instanceFromPod bool
	for _, e := range c.Env {
		s, ok := settings[e.Name]
		switch {
		case !ok:
			bad("env %s is not a silt setting (no env tag in internal/config's Config)", e.Name)
		case s.secret:
			bad("env %s sets a secret in the pod spec: use its _FILE form, a file of the Secret's mount", e.Name)
		}
		switch {
		case e.Name == "SILT_KAFKA_INSTANCE_ID":
			instanceFromPod = e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" && e.Value == ""
		case e.ValueFrom != nil:
			bad("env %s comes from valueFrom: only the instance id does (secrets are files)", e.Name)
		}
		env[e.Name] = e.Value
		if v, _, ok := fileAt(e.Value); s.secretFile && (!ok || v.Secret == nil || !under(e.Value, secretMount)) {
			bad("env %s = %s: a secret file must be an item of the Secret's mount (%s)", e.Name, e.Value, secretMount)
		}
	}
	if !instanceFromPod {
		bad("SILT_KAFKA_INSTANCE_ID must come from the pod's name (valueFrom.fieldRef.fieldPath: metadata.name): one id per pod, the same after a restart")
	}
	for _, want := range []string{"SILT_S3_SECRET_KEY_FILE", "SILT_KAFKA_SASL_PASSWORD_FILE", "SILT_TRINO_PASSWORD_FILE"} {
		if _, ok := env[want]; !ok {
			bad("env %s is not set: the example reads that secret from the Secret", want)
		}
	}

	// silt's own loader takes the ConfigMap's silt.yaml with this
	// environment, pod silt-0's name, and a placeholder for each file.
	if len(c.Args) != 3 || c.Args[0] != "run" || c.Args[1] != "--config" {
		bad("args %q: want run --config <the ConfigMap's silt.yaml>", c.Args)
		return problems
	}
	v, key, ok := fileAt(c.Args[2])
	if !ok || v.ConfigMap == nil || v.ConfigMap.Name != cm.Metadata.Name || cm.Data[key] == "" {
		bad("--config %s is not a file of the ConfigMap %s", c.Args[2], cm.Metadata.Name)
		return problems
	}
	clearSiltEnv(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "silt.yaml")
	writeTestFile(t, cfgPath, cm.Data[key])
	for _, e := range c.Env {
		val := e.Value
		switch {
		case e.Name == "SILT_KAFKA_INSTANCE_ID":
			val = st.Metadata.Name + "-0"
		case strings.HasSuffix(e.Name, "_FILE"):
			if _, key, ok := fileAt(e.Value); ok {
				val = filepath.Join(dir, "file-"+key)
				writeTestFile(t, val, "placeholder "+key)
			}
		}
		t.Setenv(e.Name, val)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return append(problems, fmt.Sprintf("silt rejects the ConfigMap's silt.yaml with the pod's environment: %v", err))
	}
	if cfg.Kafka.InstanceID != st.Metadata.Name+"-0" {
		bad("kafka.instance_id %q in pod %s-0", cfg.Kafka.InstanceID, st.Metadata.Name)
	}
	// Every secret silt holds is a placeholder from a file of the Secret:
	// none is written in the ConfigMap (a password key, one in a URL).
	for _, secret := range cfg.Secrets() {
		if !strings.HasPrefix(secret, "placeholder ") {
			bad("silt holds a secret that is not from a file of the Secret: is one written in the ConfigMap's silt.yaml?")
		}
	}
	if spec.Replicas != nil && (!cfg.Kafka.CreateTopics || cfg.Kafka.Partitions < int32(*spec.Replicas)) {
		bad("kafka.partitions %d (create_topics %v): fewer than the %d pods, some would ingest nothing", cfg.Kafka.Partitions, cfg.Kafka.CreateTopics, *spec.Replicas)
	}
	reports, err := reportsql.Load(cfg.Reports.Dir)
	if err != nil {
		bad("load reports: %v", err)
	}
	for _, j := range cfg.Jobs {
		if j.Kind == "report" && reports[j.Report] == nil {
			bad("job %s runs report %q, which silt does not have", j.Name, j.Report)
		}
	}

	// The spool and the reports are each pod's own, on emptyDirs (the root
	// file system is read-only); silt does not create the spool directory.
	if !emptyDirAt(cfg.Ingest.SpoolDir) {
		bad("ingest.spool_dir %q is not an emptyDir mount of the pod", cfg.Ingest.SpoolDir)
	}
	if !emptyDirAt(cfg.Reports.Out) {
		bad("reports.out %q is not an emptyDir mount of the pod", cfg.Reports.Out)
	}
	if cfg.Catalog.Kind == "duckdb" {
		bad("catalog.kind duckdb: a DuckDB file is one process's; several pods need Trino")
	}
	if limit, err := k8sQuantity(c.Resources.Limits["memory"]); err == nil && (cfg.Ingest.MemoryLimit <= 0 || int64(cfg.Ingest.MemoryLimit) >= limit) {
		bad("ingest.memory_limit %d is not below the container's limits.memory %s (%d bytes): Go must collect before the kernel kills", cfg.Ingest.MemoryLimit, c.Resources.Limits["memory"], limit)
	}

	// Probes: /readyz and /healthz on the port http.listen serves, which
	// must be on the pod's address, not loopback.
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
		bad("http.listen %q: listen on every address of the pod (SILT_HTTP_LISTEN=0.0.0.0:PORT), or the kubelet's probes cannot reach it", cfg.HTTP.Listen)
	}
	containerPort := func(p intOrString) string {
		for _, cp := range c.Ports {
			if string(p) == cp.Name || string(p) == strconv.Itoa(cp.ContainerPort) {
				return strconv.Itoa(cp.ContainerPort)
			}
		}
		return "(not a container port: " + string(p) + ")"
	}
	declared := false
	for _, cp := range c.Ports {
		declared = declared || strconv.Itoa(cp.ContainerPort) == port
	}
	if !declared {
		bad("http.listen %q: port %s is not a containerPort %+v", cfg.HTTP.Listen, port, c.Ports)
	}
	for _, pr := range []struct {
		name, path string
		probe      *k8sProbe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			bad("%s: want an httpGet of %s", pr.name, pr.path)
			continue
		}
		if got := pr.probe.HTTPGet; got.Path != pr.path || containerPort(got.Port) != port {
			bad("%s: GET %s on port %s, want %s on http.listen's port %s", pr.name, got.Path, containerPort(got.Port), pr.path, port)
		}
	}
	for _, sp := range svc.Spec.Ports {
		if containerPort(sp.TargetPort) != port {
			bad("Service port %s: targetPort %s is not http.listen's port %s", sp.Name, sp.TargetPort, port)
		}
	}
	return problems
}

// show is an optional number for a message.
func show(n *int, format string) string {
	if n == nil {
		return "unset"
	}
	return fmt.Sprintf(format, *n)
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// siltSetting is one environment variable of silt's config.
type siltSetting struct{ secret, secretFile bool }

// siltSettings are the env tags of internal/config's Config, walked the
// way silt applies them: a struct without an env tag is a section.
func siltSettings() map[string]siltSetting {
	out := map[string]siltSetting{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if env := f.Tag.Get("env"); env != "" {
				out[env] = siltSetting{secret: f.Tag.Get("secret") == "true", secretFile: f.Tag.Get("secretfile") != ""}
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}))
	return out
}

// k8sQuantity reads a memory quantity with a binary suffix (512Mi, 1Gi).
func k8sQuantity(q string) (int64, error) {
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * mult, err
		}
	}
	return strconv.ParseInt(q, 10, 64)
}
