// Package deploy holds what runs ringback: the Kubernetes base in k8s/base/
// with an example overlay in k8s/overlays/production/ and, at the repository
// root, the Dockerfile, docker-compose.yml and `make image`. These tests need
// no cluster and no Docker engine: they build the kustomizations in process,
// decode every object strictly into the k8s.io/api types (a misspelt field
// fails, as it would at the API server), and check the invariants of the
// distributed mode on the result and on the compose file.
package deploy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// targets are the seven services of `ringback serve --target`.
var targets = []string{"intake", "scheduler", "router", "agent-session", "media-gateway", "history", "disposition"}

// autoscaled are the services any replica can serve, scaled on CPU by a
// HorizontalPodAutoscaler. The router (one replica dispatches, under a lease;
// more add standbys) and the media gateway (an instance is a SIP address with
// calls of its own) run a fixed count.
var autoscaled = map[string]bool{"intake": true, "scheduler": true, "agent-session": true, "history": true, "disposition": true}

// statefulTargets run as a StatefulSet: the media gateway, for a volume of
// recordings and a stable name per instance. The others are Deployments.
var statefulTargets = map[string]bool{"media-gateway": true}

const (
	namespace = "ringback"
	httpPort  = 8080
	dataDir   = "/var/lib/ringback"
	// A 2-vCPU node leaves about this much to pods once the kubelet and the
	// system reserve theirs. The platform's requests fit one such node, so
	// two nodes survive the drain of either.
	nodeCPU    = "1900m"
	nodeMemory = "3Gi"
)

// manifests is the kustomize build of one kustomization, decoded.
type manifests struct {
	namespaces   []corev1.Namespace
	configMaps   map[string]corev1.ConfigMap
	deployments  map[string]appsv1.Deployment
	statefulSets map[string]appsv1.StatefulSet
	workloads    map[string]workload // the Deployments and StatefulSets, by name
	services     map[string]corev1.Service
	ingresses    []networkingv1.Ingress
	pdbs         []policyv1.PodDisruptionBudget
	pvcs         map[string]corev1.PersistentVolumeClaim
	hpas         map[string]autoscalingv2.HorizontalPodAutoscaler
}

// workload is a Deployment or a StatefulSet, as the checks of its pods read
// it.
type workload struct {
	kind     string // Deployment or StatefulSet
	name     string
	replicas *int32
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
	claims   []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
}

// add records w, refusing a second workload of the same name (a Service
// and a budget could not tell them apart).
func (m *manifests) add(id string, w workload) error {
	if other, ok := m.workloads[w.name]; ok {
		return fmt.Errorf("%s: a %s of that name is in the build too", id, other.kind)
	}
	m.workloads[w.name] = w
	return nil
}

// kustomizations are what an operator applies: the base and the example
// overlay. Every invariant holds on each.
var kustomizations = []string{base, overlay}

const (
	base    = "k8s/base"
	overlay = "k8s/overlays/production"
)

var builds = func() map[string]func() (*manifests, error) {
	b := map[string]func() (*manifests, error){}
	for _, dir := range kustomizations {
		b[dir] = sync.OnceValues(func() (*manifests, error) { return build(filesys.MakeFsOnDisk(), dir) })
	}
	return b
}()

func mustBuild(t *testing.T, dir string) *manifests {
	t.Helper()
	m, err := builds[dir]()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// eachBuild runs f on the build of every kustomization, as a subtest named
// after its directory.
func eachBuild(t *testing.T, f func(t *testing.T, m *manifests)) {
	t.Helper()
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) { f(t, mustBuild(t, dir)) })
	}
}

// build runs kustomize on dir and decodes every object strictly into its
// k8s.io/api type. A kind with no type here is an error: add it and its
// invariants together.
func build(fs filesys.FileSystem, dir string) (*manifests, error) {
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	m := &manifests{
		configMaps:   map[string]corev1.ConfigMap{},
		deployments:  map[string]appsv1.Deployment{},
		statefulSets: map[string]appsv1.StatefulSet{},
		workloads:    map[string]workload{},
		services:     map[string]corev1.Service{},
		pvcs:         map[string]corev1.PersistentVolumeClaim{},
		hpas:         map[string]autoscalingv2.HorizontalPodAutoscaler{},
	}
	var errs []error
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		id := r.CurId().String()
		switch gvk := r.GetGvk(); gvk.ApiVersion() + " " + gvk.Kind {
		case "v1 Namespace":
			var o corev1.Namespace
			errs = append(errs, decodeStrict(id, y, &o))
			m.namespaces = append(m.namespaces, o)
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			errs = append(errs, decodeStrict(id, y, &o))
			m.configMaps[o.Name] = o
		case "apps/v1 Deployment":
			var o appsv1.Deployment
			errs = append(errs, decodeStrict(id, y, &o))
			m.deployments[o.Name] = o
			errs = append(errs, m.add(id, workload{kind: "Deployment", name: o.Name, replicas: o.Spec.Replicas,
				selector: o.Spec.Selector, template: o.Spec.Template}))
		case "apps/v1 StatefulSet":
			var o appsv1.StatefulSet
			errs = append(errs, decodeStrict(id, y, &o))
			m.statefulSets[o.Name] = o
			errs = append(errs, m.add(id, workload{kind: "StatefulSet", name: o.Name, replicas: o.Spec.Replicas,
				selector: o.Spec.Selector, template: o.Spec.Template, claims: o.Spec.VolumeClaimTemplates}))
		case "autoscaling/v2 HorizontalPodAutoscaler":
			var o autoscalingv2.HorizontalPodAutoscaler
			errs = append(errs, decodeStrict(id, y, &o))
			m.hpas[o.Name] = o
		case "v1 Service":
			var o corev1.Service
			errs = append(errs, decodeStrict(id, y, &o))
			m.services[o.Name] = o
		case "networking.k8s.io/v1 Ingress":
			var o networkingv1.Ingress
			errs = append(errs, decodeStrict(id, y, &o))
			m.ingresses = append(m.ingresses, o)
		case "v1 PersistentVolumeClaim":
			var o corev1.PersistentVolumeClaim
			errs = append(errs, decodeStrict(id, y, &o))
			m.pvcs[o.Name] = o
		case "v1 Secret":
			errs = append(errs, fmt.Errorf("%s: a Secret in the build commits credentials to the repository; the operator creates it (README.md, Deploying on Kubernetes)", id))
		case "policy/v1 PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			errs = append(errs, decodeStrict(id, y, &o))
			m.pdbs = append(m.pdbs, o)
		default:
			errs = append(errs, fmt.Errorf("%s: no k8s.io/api type decodes this kind in the test", id))
		}
	}
	return m, errors.Join(errs...)
}

// decodeStrict decodes like the API server does: YAML to JSON refusing
// duplicate keys, then case-sensitive JSON refusing unknown and duplicate
// fields (encoding/json alone would take "readinessprobe" for
// "readinessProbe").
func decodeStrict(id string, y []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	strict, err := kjson.UnmarshalStrict(j, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	if len(strict) > 0 {
		return fmt.Errorf("%s: %w", id, errors.Join(strict...))
	}
	return nil
}

func TestDecodeStrictRejectsTypos(t *testing.T) {
	for name, y := range map[string]string{
		"unknown field":   "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"wrong case":      "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          readinessprobe: {}\n",
		"duplicate key":   "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 1\n  replicas: 2\n",
		"wrong type":      "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: two\n",
		"nested misspell": "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      securityContext:\n        runAsNonroot: true\n",
	} {
		var d appsv1.Deployment
		if err := decodeStrict(name, []byte(y), &d); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	var d appsv1.Deployment
	if err := decodeStrict("valid", []byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n"), &d); err != nil {
		t.Errorf("valid: %v", err)
	}
}

func TestBuildDecodesStrictly(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		if len(m.namespaces) != 1 || m.namespaces[0].Name != namespace {
			t.Errorf("want the one Namespace %q, got %d", namespace, len(m.namespaces))
		}
		check := func(kind, name, ns string) {
			if ns != namespace {
				t.Errorf("%s %s: namespace %q, want %q", kind, name, ns, namespace)
			}
		}
		for n, o := range m.configMaps {
			check("ConfigMap", n, o.Namespace)
		}
		for n, o := range m.deployments {
			check("Deployment", n, o.Namespace)
		}
		for n, o := range m.statefulSets {
			check("StatefulSet", n, o.Namespace)
		}
		for n, o := range m.hpas {
			check("HorizontalPodAutoscaler", n, o.Namespace)
		}
		for n, o := range m.services {
			check("Service", n, o.Namespace)
		}
		for _, o := range m.ingresses {
			check("Ingress", o.Name, o.Namespace)
		}
		for _, o := range m.pdbs {
			check("PodDisruptionBudget", o.Name, o.Namespace)
		}
		for n, o := range m.pvcs {
			check("PersistentVolumeClaim", n, o.Namespace)
		}
	})
}

// container is the ringback container of w.
func container(t *testing.T, w workload) corev1.Container {
	t.Helper()
	cs := w.template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%s %s: %d containers, want 1", w.kind, w.name, len(cs))
	}
	return cs[0]
}

// target is the one --target of c, or an error.
func target(args []string) (string, error) {
	var found []string
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--target="), strings.HasPrefix(a, "-target="):
			found = append(found, a[strings.Index(a, "=")+1:])
		case a == "--target" || a == "-target":
			if i+1 < len(args) {
				found = append(found, args[i+1])
			} else {
				found = append(found, "")
			}
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("args %q name --target %d times, want once", args, len(found))
	}
	if !slices.Contains(targets, found[0]) {
		return "", fmt.Errorf("args %q: --target=%s is not exactly one of %v", args, found[0], targets)
	}
	return found[0], nil
}

func TestEveryTargetRunsInItsOwnWorkload(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		seen := map[string]string{}
		for name, w := range m.workloads {
			c := container(t, w)
			if len(c.Command) > 0 {
				t.Errorf("%s %s: command %q overrides the image's entrypoint (ringback serve)", w.kind, name, c.Command)
			}
			tg, err := target(c.Args)
			if err != nil {
				t.Errorf("%s %s: %v", w.kind, name, err)
				continue
			}
			if tg != name {
				t.Errorf("%s %s runs --target=%s: name a workload after its target", w.kind, name, tg)
			}
			if other, ok := seen[tg]; ok {
				t.Errorf("--target=%s in workloads %s and %s", tg, other, name)
			}
			seen[tg] = name
			if want := map[bool]string{true: "StatefulSet", false: "Deployment"}[statefulTargets[tg]]; w.kind != want {
				t.Errorf("--target=%s runs in a %s, want a %s", tg, w.kind, want)
			}
		}
		for _, tg := range targets {
			if _, ok := seen[tg]; !ok {
				t.Errorf("no workload runs --target=%s", tg)
			}
		}
	})
}

// httpContainerPort is the TCP port named http of c.
func httpContainerPort(c corev1.Container) (corev1.ContainerPort, bool) {
	for _, p := range c.Ports {
		if p.Name == "http" {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

func TestProbesHitReadyzAndHealthzOnHTTP(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, w := range m.workloads {
			c := container(t, w)
			hp, ok := httpContainerPort(c)
			if !ok || hp.ContainerPort != httpPort || (hp.Protocol != "" && hp.Protocol != corev1.ProtocolTCP) {
				t.Errorf("deployment %s: want a TCP container port named http on %d, got %+v", name, httpPort, c.Ports)
				continue
			}
			for _, p := range []struct {
				kind  string
				probe *corev1.Probe
				path  string
			}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("deployment %s: no %s httpGet probe", name, p.kind)
					continue
				}
				g := p.probe.HTTPGet
				if g.Path != p.path {
					t.Errorf("deployment %s: %s probe path %q, want %q", name, p.kind, g.Path, p.path)
				}
				if g.Port != intstr.FromString("http") && g.Port != intstr.FromInt32(httpPort) {
					t.Errorf("deployment %s: %s probe port %s, want the http port", name, p.kind, g.Port.String())
				}
			}
		}
	})
}

// envOf is what c's environment resolves to from the ConfigMaps and its own
// env (own env wins, as in the kubelet): the literal values, and apart the
// variables whose value comes from elsewhere (a Secret, a field). envFrom
// must name ConfigMaps of the build.
func envOf(t *testing.T, m *manifests, name string, c corev1.Container) (env map[string]string, from map[string]*corev1.EnvVarSource) {
	t.Helper()
	env, from = map[string]string{}, map[string]*corev1.EnvVarSource{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("deployment %s: envFrom other than a ConfigMap", name)
			continue
		}
		cm, ok := m.configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Errorf("deployment %s: envFrom ConfigMap %q is not in the build", name, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			delete(env, e.Name)
			from[e.Name] = e.ValueFrom
			continue
		}
		delete(from, e.Name)
		env[e.Name] = e.Value
	}
	return env, from
}

func TestCommonEnvironment(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, w := range m.workloads {
			c := container(t, w)
			env, _ := envOf(t, m, name, c)
			want := map[string]string{
				"RINGBACK_HTTP": fmt.Sprintf("0.0.0.0:%d", httpPort), // probes come from the node
				"RINGBACK_BUS":  "kafka",
				"RINGBACK_DATA": dataDir,
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("deployment %s: %s=%q, want %q", name, k, env[k], v)
				}
			}
			if env["RINGBACK_KAFKA_BROKERS"] == "" {
				t.Errorf("deployment %s: RINGBACK_KAFKA_BROKERS is empty", name)
			}
			if name == "media-gateway" {
				if sip := env["RINGBACK_SIP"]; !strings.HasPrefix(sip, "$(POD_IP):") {
					t.Errorf("media-gateway: RINGBACK_SIP=%q, want the pod IP (the gateway advertises the address it binds)", sip)
				}
			}
		}
	})
}

// secretEnv are the variables that carry credentials: each comes from a
// Secret key, in the Deployments listed (nil: every Deployment), never from a
// ConfigMap, a literal or an argument. The binary refuses --bus=kafka on the
// embedded store, so every Deployment needs the shared store's URL.
var secretEnv = map[string][]string{
	"RINGBACK_EVENTSTORE":           nil,
	"RINGBACK_MEDIA_TRUNK_USER":     {"media-gateway"},
	"RINGBACK_MEDIA_TRUNK_PASSWORD": {"media-gateway"},
}

// secretFiles are the flags that name a file of credentials: the file is a
// key of a Secret volume, mounted read-only, in the Deployments listed.
var secretFiles = map[string][]string{
	"RINGBACK_AGENTS":             {"intake", "scheduler", "router", "agent-session", "history", "disposition"},
	"RINGBACK_MEDIA_SIP_ACCOUNTS": {"media-gateway"},
	// The operator's secret that wraps contacts' keys (issue 16 point 9)
	// and keys callback ids: every process seals or opens personal data.
	"RINGBACK_PERSONAL_SECRET_FILE": {"intake", "scheduler", "router", "agent-session", "media-gateway", "history", "disposition"},
}

// credentialFlags may not be given as arguments: the process list and the
// Deployment would show them.
var credentialFlags = []string{"eventstore", "agents", "media.trunk-user", "media.trunk-password", "media.sip-accounts"}

// userinfo is a URL with a password in it.
var userinfo = regexp.MustCompile(`://[^/@\s]*:[^/@\s]*@`)

// secretRef is one key of one Secret that a Deployment reads.
type secretRef struct{ secret, key string }

func TestCredentialsComeFromSecrets(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, cm := range m.configMaps {
			for k, v := range cm.Data {
				_, isSecret := secretEnv[k]
				if isSecret || userinfo.MatchString(v) || strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") {
					t.Errorf("ConfigMap %s: %s looks like a credential; it belongs in a Secret", name, k)
				}
			}
		}
		for name, w := range m.workloads {
			c := container(t, w)
			env, from := envOf(t, m, name, c)
			for _, a := range c.Args {
				for _, f := range credentialFlags {
					if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == f && strings.HasPrefix(a, "-") {
						t.Errorf("deployment %s: argument %q: --%s comes from a Secret through the environment", name, a, f)
					}
				}
			}
			for k, in := range secretEnv {
				if in != nil && !slices.Contains(in, name) {
					continue
				}
				if v, ok := env[k]; ok {
					t.Errorf("deployment %s: %s=%q is a literal or in a ConfigMap; it carries credentials: use a secretKeyRef", name, k, v)
					continue
				}
				src := from[k]
				if src == nil || src.SecretKeyRef == nil || src.SecretKeyRef.Name == "" || src.SecretKeyRef.Key == "" {
					t.Errorf("deployment %s: %s should come from a Secret key (secretKeyRef)", name, k)
				}
			}
			for k, in := range secretFiles {
				if !slices.Contains(in, name) {
					continue
				}
				if _, ok := from[k]; ok {
					t.Errorf("deployment %s: %s names a file; give its path", name, k)
					continue
				}
				if _, err := secretFile(w, c, env[k]); err != nil {
					t.Errorf("deployment %s: %s=%q: %v", name, k, env[k], err)
				}
			}
		}
	})
}

// secretFile is the Secret key whose file is path in c, or why path is not
// such a file: it must lie in a read-only mount of a Secret volume that maps
// the key explicitly (a missing key then stops the pod instead of leaving the
// file absent).
func secretFile(w workload, c corev1.Container, path string) (secretRef, error) {
	if !filepath.IsAbs(path) {
		return secretRef{}, errors.New("not an absolute path")
	}
	vm, ok := mountOf(c, path)
	if !ok {
		return secretRef{}, errors.New("on no volume")
	}
	v, ok := volumeOf(w, vm.Name)
	if !ok || v.Secret == nil {
		return secretRef{}, fmt.Errorf("on volume %s, which is not a Secret", vm.Name)
	}
	if !vm.ReadOnly {
		return secretRef{}, fmt.Errorf("Secret volume %s is mounted read-write", vm.Name)
	}
	if vm.SubPath != "" {
		return secretRef{}, fmt.Errorf("Secret volume %s is mounted with subPath, which never sees an update of the Secret", vm.Name)
	}
	rel, _ := filepath.Rel(vm.MountPath, path)
	for _, it := range v.Secret.Items {
		if it.Path == rel {
			if v.Secret.Optional != nil && *v.Secret.Optional {
				return secretRef{}, fmt.Errorf("Secret %s is optional: the pod would start without the file", v.Secret.SecretName)
			}
			return secretRef{v.Secret.SecretName, it.Key}, nil
		}
	}
	return secretRef{}, fmt.Errorf("Secret volume %s maps no key to %s", vm.Name, rel)
}

// mountOf is the mount of c that holds path: the deepest one, as in the
// container.
func mountOf(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	var best corev1.VolumeMount
	var found bool
	for _, vm := range c.VolumeMounts {
		mp := filepath.Clean(vm.MountPath)
		if (path == mp || strings.HasPrefix(path, mp+"/")) && (!found || len(mp) > len(filepath.Clean(best.MountPath))) {
			best, found = vm, true
		}
	}
	return best, found
}

func volumeOf(w workload, name string) (corev1.Volume, bool) {
	for _, v := range w.template.Spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return corev1.Volume{}, false
}

// secretsRead are the Secret keys the Deployments of m read.
func secretsRead(t *testing.T, m *manifests) map[secretRef][]string {
	t.Helper()
	refs := map[secretRef][]string{}
	for name, w := range m.workloads {
		c := container(t, w)
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				r := secretRef{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key}
				refs[r] = append(refs[r], name)
			}
		}
		for _, v := range w.template.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				t.Errorf("deployment %s: Secret volume %s maps no keys explicitly", name, v.Name)
			}
			for _, it := range v.Secret.Items {
				r := secretRef{v.Secret.SecretName, it.Key}
				refs[r] = append(refs[r], name)
			}
			if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&^0o440 != 0 {
				t.Errorf("deployment %s: Secret volume %s should not be readable by others (defaultMode 0440)", name, v.Name)
			}
		}
	}
	return refs
}

// TestREADMEShowsEverySecret keeps the instructions true: every Secret key a
// Deployment reads is created by a command the README shows.
func TestREADMEShowsEverySecret(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	refs := secretsRead(t, mustBuild(t, base))
	if len(refs) == 0 {
		t.Fatal("the Deployments read no Secret")
	}
	for r := range refs {
		// kubectl -n ringback create secret generic NAME --from-literal=KEY=... / --from-file=KEY=...
		cmd := regexp.MustCompile(`kubectl -n ` + namespace + ` create secret generic ` + regexp.QuoteMeta(r.secret) +
			`(?: \\\n)?(?:[^\n]*\\\n)*[^\n]*--from-(?:literal|file)=` + regexp.QuoteMeta(r.key) + `=`)
		if !cmd.Match(readme) {
			t.Errorf("README.md shows no `kubectl -n %s create secret generic %s ... --from-...=%s=` for the key the Deployments %v read",
				namespace, r.secret, r.key, refs[r])
		}
	}
}

// scratchAnnotation prefixes the pod-template annotation that documents an
// emptyDir volume as scratch: scratch.ringback.io/<volume>: why losing it
// with the pod costs nothing.
const scratchAnnotation = "scratch.ringback.io/"

// recordingsDir is where the media gateway writes call recordings
// (--data/recordings): they must outlive the pod.
const recordingsDir = dataDir + "/recordings"

func TestNothingThatMustSurviveIsOnAPodsDisk(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		claimedBy := map[string][]string{}
		for name, w := range m.workloads {
			ps := w.template.Spec
			for _, v := range ps.Volumes {
				switch {
				case v.EmptyDir != nil:
					if why := w.template.Annotations[scratchAnnotation+v.Name]; len(strings.TrimSpace(why)) < 10 {
						t.Errorf("%s %s: emptyDir %s is lost with the pod; document it as scratch in the pod annotation %s%s, or use a claim",
							w.kind, name, v.Name, scratchAnnotation, v.Name)
					}
				case v.HostPath != nil:
					t.Errorf("%s %s: hostPath volume %s: a node's disk is not the pod's, and the next pod may be elsewhere", w.kind, name, v.Name)
				case v.PersistentVolumeClaim != nil:
					claimedBy[v.PersistentVolumeClaim.ClaimName] = append(claimedBy[v.PersistentVolumeClaim.ClaimName], name)
				}
			}
			for k := range w.template.Annotations {
				if v, ok := strings.CutPrefix(k, scratchAnnotation); ok {
					if vol, found := volumeOf(w, v); !found || vol.EmptyDir == nil {
						t.Errorf("%s %s: annotation %s names no emptyDir volume", w.kind, name, k)
					}
				}
			}
			c := container(t, w)
			for _, ct := range w.claims {
				if _, ok := volumeOf(w, ct.Name); ok {
					t.Errorf("%s %s: claim template %s is shadowed by a pod volume of the same name", w.kind, name, ct.Name)
				}
				if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == ct.Name }) {
					t.Errorf("%s %s: claim template %s is mounted nowhere", w.kind, name, ct.Name)
				}
				if _, ok := ct.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
					t.Errorf("%s %s: claim template %s requests no storage", w.kind, name, ct.Name)
				}
			}
			if name == "media-gateway" {
				// Each instance records onto its own claim: a claim template
				// of the StatefulSet, kept when it scales down or goes.
				vm, ok := mountOf(c, recordingsDir)
				var ct *corev1.PersistentVolumeClaim
				for i := range w.claims {
					if w.claims[i].Name == vm.Name {
						ct = &w.claims[i]
					}
				}
				if !ok || vm.ReadOnly || ct == nil {
					t.Errorf("media-gateway: %s (call recordings) should be on a writable claim of each instance's own (volumeClaimTemplates), is on %+v", recordingsDir, vm)
				}
				if sts, ok := m.statefulSets[name]; ok {
					rp := sts.Spec.PersistentVolumeClaimRetentionPolicy
					if rp == nil || rp.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
						rp.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
						t.Errorf("media-gateway: recordings must outlive a scale-down and the StatefulSet: persistentVolumeClaimRetentionPolicy Retain/Retain, got %+v", rp)
					}
				}
			}
		}
		for claim, users := range claimedBy {
			pvc, ok := m.pvcs[claim]
			if !ok {
				t.Errorf("workloads %v mount claim %s, which is not in the build", users, claim)
				continue
			}
			if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				t.Errorf("claim %s requests no storage", claim)
			}
			if slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) {
				// One node mounts it: one pod, and no overlap in a rollout.
				for _, u := range users {
					d, ok := m.deployments[u]
					if !ok || d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
						t.Errorf("%s mounts the ReadWriteOnce claim %s, which two pods on two nodes cannot share: a claim per pod (a StatefulSet's volumeClaimTemplates), or 1 replica with Recreate", u, claim)
					}
				}
			}
		}
		for claim := range m.pvcs {
			if _, ok := claimedBy[claim]; !ok {
				t.Errorf("claim %s is mounted by no workload", claim)
			}
		}
	})
}

// kustomization is the part of a kustomization.yaml the image checks read.
type kustomization struct {
	Images []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

func readKustomization(t *testing.T, dir string) (kustomization, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	var raw map[string]any
	if err := yamlv3.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if err := yamlv3.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return k, raw
}

// images are the images of every container of m.
func images(m *manifests) map[string][]string {
	out := map[string][]string{}
	for name, w := range m.workloads {
		for _, c := range w.template.Spec.Containers {
			out[c.Image] = append(out[c.Image], name)
		}
	}
	return out
}

// TestOverlaySetsTheImage builds the example overlay and checks it runs the
// image it names, then does what the README tells an operator to do,
// `kustomize edit set image <base image>=<new>`, on a copy and checks every
// Deployment runs the new image.
func TestOverlaySetsTheImage(t *testing.T) {
	bk, _ := readKustomization(t, base)
	if len(bk.Images) != 1 || bk.Images[0].Name != "ringback" || bk.Images[0].NewName == "" {
		t.Fatalf("%s/kustomization.yaml: want one images entry renaming ringback, got %+v", base, bk.Images)
	}
	baseImage := bk.Images[0].NewName
	ov, raw := readKustomization(t, overlay)
	if len(ov.Images) != 1 || ov.Images[0].Name != baseImage || ov.Images[0].NewTag == "" {
		t.Fatalf("%s: want one images entry for %s (the name the base gives the image) with a newTag, got %+v", overlay, baseImage, ov.Images)
	}
	want := ov.Images[0].NewName + ":" + ov.Images[0].NewTag
	if got := images(mustBuild(t, overlay)); len(got) != 1 || got[want] == nil {
		t.Errorf("%s runs images %v, want %s only", overlay, got, want)
	}

	// kustomize edit set image NAME=NEWNAME:NEWTAG writes the entry as below.
	const newName, newTag = "registry.test/ringback", "v9.9.9-3-gabcdef0"
	raw["images"] = []map[string]string{{"name": baseImage, "newName": newName, "newTag": newTag}}
	edited, err := yamlv3.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	fs := filesys.MakeFsInMemory()
	if err := filepath.WalkDir("k8s", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if path == filepath.Join(overlay, "kustomization.yaml") {
			b = edited
		}
		return fs.WriteFile(path, b)
	}); err != nil {
		t.Fatal(err)
	}
	m, err := build(fs, overlay)
	if err != nil {
		t.Fatal(err)
	}
	if got := images(m); len(got) != 1 || got[newName+":"+newTag] == nil {
		t.Errorf("after kustomize edit set image %s=%s:%s, the overlay runs %v", baseImage, newName, newTag, got)
	}

	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "kustomize edit set image "+baseImage+"=") {
		t.Errorf("README.md should show `kustomize edit set image %s=<registry>/ringback:<version>`: the overlay matches the base's image by that name", baseImage)
	}
}

func TestResourcesFitTwoCoreNodes(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		cpu, mem := resource.MustParse(nodeCPU), resource.MustParse(nodeMemory)
		var sumCPU, sumMem resource.Quantity
		for name, w := range m.workloads {
			c := container(t, w)
			r := c.Resources
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				lim, okL := r.Limits[res]
				req, okR := r.Requests[res]
				if !okL || !okR {
					t.Errorf("deployment %s: %s needs a request and a limit", name, res)
					continue
				}
				if req.Cmp(lim) > 0 {
					t.Errorf("deployment %s: %s request %s above its limit %s", name, res, req.String(), lim.String())
				}
			}
			if l := r.Limits[corev1.ResourceCPU]; l.Cmp(cpu) > 0 {
				t.Errorf("deployment %s: cpu limit %s does not fit a 2-core node (%s allocatable)", name, l.String(), nodeCPU)
			}
			if l := r.Limits[corev1.ResourceMemory]; l.Cmp(mem) > 0 {
				t.Errorf("deployment %s: memory limit %s does not fit a node (%s allocatable)", name, l.String(), nodeMemory)
			}
			for range replicasOf(m, w) {
				sumCPU.Add(r.Requests[corev1.ResourceCPU])
				sumMem.Add(r.Requests[corev1.ResourceMemory])
			}
			// The Go runtime should know the memory limit.
			var memLimit bool
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
					e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" {
					memLimit = true
				}
			}
			if !memLimit {
				t.Errorf("deployment %s: GOMEMLIMIT should come from limits.memory", name)
			}
		}
		if sumCPU.Cmp(cpu) > 0 || sumMem.Cmp(mem) > 0 {
			t.Errorf("all replicas request %s CPU and %s memory: more than one 2-core node (%s, %s), so a two-node cluster cannot drain a node",
				sumCPU.String(), sumMem.String(), nodeCPU, nodeMemory)
		}
	})
}

func TestPodsRunNonRootOnAReadOnlyRoot(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, w := range m.workloads {
			ps := w.template.Spec
			c := container(t, w)
			psc, csc := ps.SecurityContext, c.SecurityContext
			if psc == nil || csc == nil {
				t.Errorf("deployment %s: pod and container need a securityContext", name)
				continue
			}
			nonRoot := (csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) || (psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
			if !nonRoot {
				t.Errorf("deployment %s: runAsNonRoot is not true", name)
			}
			for _, uid := range []*int64{psc.RunAsUser, csc.RunAsUser} {
				if uid != nil && *uid == 0 {
					t.Errorf("deployment %s: runAsUser 0", name)
				}
			}
			if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
				t.Errorf("deployment %s: readOnlyRootFilesystem is not true", name)
			}
			if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
				t.Errorf("deployment %s: allowPrivilegeEscalation is not false", name)
			}
			if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
				t.Errorf("deployment %s: capabilities should drop ALL and add none", name)
			}
			if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("deployment %s: seccompProfile should be RuntimeDefault", name)
			}
			// --data must be writable: a volume, since the root is read-only.
			volumes := map[string]corev1.Volume{}
			for _, v := range ps.Volumes {
				volumes[v.Name] = v
			}
			var data bool
			for _, vm := range c.VolumeMounts {
				if vm.MountPath != dataDir {
					continue
				}
				v, ok := volumes[vm.Name]
				data = ok && !vm.ReadOnly && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil)
			}
			if !data {
				t.Errorf("deployment %s: %s (--data) should be a writable emptyDir or PVC", name, dataDir)
			}
			// /metrics is scraped on the operator listener (--ops-http), the
			// API's port asking an operator token for it (issue 16).
			var opsPort int32
			for _, p := range c.Ports {
				if p.Name == "ops" {
					opsPort = p.ContainerPort
				}
			}
			var opsHTTP string
			for _, e := range c.Env {
				if e.Name == "RINGBACK_OPS_HTTP" {
					opsHTTP = e.Value
				}
			}
			if opsPort == 0 || !strings.HasSuffix(opsHTTP, fmt.Sprintf(":%d", opsPort)) {
				t.Errorf("deployment %s: no ops port serving RINGBACK_OPS_HTTP (%q) for the scrape", name, opsHTTP)
			}
			if ann := w.template.Annotations; ann["prometheus.io/scrape"] != "true" ||
				ann["prometheus.io/port"] != fmt.Sprint(opsPort) || ann["prometheus.io/path"] != "/metrics" {
				t.Errorf("deployment %s: pod template lacks the prometheus.io scrape annotations on the ops port: %v", name, ann)
			}
		}
	})
}

// selects reports whether the PodDisruptionBudget, Service or affinity
// selector sel selects the pods of w.
func selects(sel labels.Selector, w workload) bool {
	return !sel.Empty() && sel.Matches(labels.Set(w.template.Labels))
}

// hpaOf is the HorizontalPodAutoscaler that scales w, if any.
func hpaOf(m *manifests, w workload) (autoscalingv2.HorizontalPodAutoscaler, bool) {
	for _, h := range m.hpas {
		if r := h.Spec.ScaleTargetRef; r.Kind == w.kind && r.Name == w.name {
			return h, true
		}
	}
	return autoscalingv2.HorizontalPodAutoscaler{}, false
}

// replicasOf is how many pods w runs at the least: its HPA's minimum when
// one scales it, else its replicas (1 when unset, as the API server
// defaults it).
func replicasOf(m *manifests, w workload) int32 {
	if h, ok := hpaOf(m, w); ok {
		if h.Spec.MinReplicas == nil {
			return 1
		}
		return *h.Spec.MinReplicas
	}
	if w.replicas == nil {
		return 1
	}
	return *w.replicas
}

// budgetsOf are the PodDisruptionBudgets that select the pods of w.
func budgetsOf(t *testing.T, m *manifests, w workload) []policyv1.PodDisruptionBudget {
	t.Helper()
	var out []policyv1.PodDisruptionBudget
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			t.Fatalf("pdb %s: %v", p.Name, err)
		}
		if selects(sel, w) {
			out = append(out, p)
		}
	}
	return out
}

// TestReplicasAndDisruptionBudgets: every service runs two pods at least,
// the router and the gateway included (a lease makes one dispatcher among
// the routers; each gateway owns its calls), under exactly one budget that
// lets a node drain yet keeps the service up: the router at least one pod
// (the standby takes the lease over), the gateways all but one (each
// evicted one drains its calls while the others take new ones).
func TestReplicasAndDisruptionBudgets(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, w := range m.workloads {
			replicas := replicasOf(m, w)
			if replicas < 2 {
				t.Errorf("%s %s: %d replicas, want 2 or more: every replica is safe to kill, and one alone makes a node drain an outage", w.kind, name, replicas)
			}
			budgets := budgetsOf(t, m, w)
			if len(budgets) != 1 {
				t.Errorf("%s %s: selected by %d budgets, want exactly one", w.kind, name, len(budgets))
				continue
			}
			p := budgets[0]
			switch {
			case p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable != nil:
				t.Errorf("pdb %s: both minAvailable and maxUnavailable", p.Name)
			case p.Spec.MinAvailable != nil:
				if v := p.Spec.MinAvailable.IntValue(); p.Spec.MinAvailable.Type != intstr.Int || v < 1 || v >= int(replicas) {
					t.Errorf("pdb %s: minAvailable %s, want at least 1 and fewer than %d replicas", p.Name, p.Spec.MinAvailable.String(), replicas)
				}
			case p.Spec.MaxUnavailable != nil:
				if v := p.Spec.MaxUnavailable.IntValue(); p.Spec.MaxUnavailable.Type != intstr.Int || v < 1 || v >= int(replicas) {
					t.Errorf("pdb %s: maxUnavailable %s, want at least 1 and fewer than %d replicas", p.Name, p.Spec.MaxUnavailable.String(), replicas)
				}
			default:
				t.Errorf("pdb %s: neither minAvailable nor maxUnavailable", p.Name)
			}
			switch name {
			case "router":
				if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 1 {
					t.Errorf("pdb %s: want minAvailable 1 (the standby stays while the dispatcher's node drains)", p.Name)
				}
			case "media-gateway":
				if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("pdb %s: want maxUnavailable 1 (one gateway drains at a time, whatever their number)", p.Name)
				}
			}
		}
		for _, p := range m.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil {
				t.Fatalf("pdb %s: %v", p.Name, err)
			}
			if !slices.ContainsFunc(slices.Collect(maps.Values(m.workloads)), func(w workload) bool { return selects(sel, w) }) {
				t.Errorf("pdb %s selects no workload's pods", p.Name)
			}
		}
	})
}

// headless reports whether s is the headless Service that names the pods of
// StatefulSet w one by one (its spec.serviceName).
func headless(m *manifests, s corev1.Service, w workload) bool {
	sts, ok := m.statefulSets[w.name]
	return ok && sts.Spec.ServiceName == s.Name && s.Spec.ClusterIP == corev1.ClusterIPNone
}

func TestServicesSelectTheirWorkload(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for _, tg := range targets {
			if _, ok := m.services[tg]; !ok {
				t.Errorf("no Service %s", tg)
			}
		}
		for _, sts := range m.statefulSets {
			s, ok := m.services[sts.Spec.ServiceName]
			if !ok || s.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("StatefulSet %s: serviceName %q should name a headless Service (clusterIP None) of the build: it gives each pod its DNS name", sts.Name, sts.Spec.ServiceName)
			} else if !s.Spec.PublishNotReadyAddresses {
				t.Errorf("service %s: publishNotReadyAddresses should be true, so a draining instance keeps its name for the calls it finishes", s.Name)
			}
		}
		for name, s := range m.services {
			sel := labels.SelectorFromSet(s.Spec.Selector)
			var matched []string
			for wn, w := range m.workloads {
				if selects(sel, w) {
					matched = append(matched, wn)
				}
			}
			if len(matched) != 1 || (matched[0] != name && !headless(m, s, m.workloads[matched[0]])) {
				t.Errorf("service %s selects the pods of %v, want those of workload %s only (or be the headless Service of a StatefulSet)", name, matched, name)
				continue
			}
			w := m.workloads[matched[0]]
			// The workload's own selector must match its template, and the
			// Service's ports must name ports the container has.
			wsel, err := metav1.LabelSelectorAsSelector(w.selector)
			if err != nil || !selects(wsel, w) {
				t.Errorf("%s %s: selector does not match its pod template (%v)", w.kind, w.name, err)
			}
			c := container(t, w)
			want := map[string]corev1.Protocol{"http": corev1.ProtocolTCP}
			if w.name == "media-gateway" {
				want["sip"], want["sip-tcp"] = corev1.ProtocolUDP, corev1.ProtocolTCP
			}
			got := map[string]corev1.Protocol{}
			for _, p := range s.Spec.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				got[p.Name] = proto
				var found bool
				for _, cp := range c.Ports {
					cproto := cp.Protocol
					if cproto == "" {
						cproto = corev1.ProtocolTCP
					}
					if (p.TargetPort == intstr.FromString(cp.Name) || p.TargetPort == intstr.FromInt32(cp.ContainerPort)) && cproto == proto {
						found = true
					}
				}
				if !found {
					t.Errorf("service %s: port %s targets %s/%s, which the container does not expose", name, p.Name, p.TargetPort.String(), proto)
				}
				if p.Name == "http" && p.Port != httpPort {
					t.Errorf("service %s: http port %d, want %d", name, p.Port, httpPort)
				}
				if p.Name == "sip" && p.Port != 5060 {
					t.Errorf("service %s: sip port %d, want 5060", name, p.Port)
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("service %s: ports %v, want %v", name, got, want)
			}
		}
	})
}

// route is one Ingress path as ingress-nginx runs it with use-regex:
// `location ~* "^<path>"`, a case-insensitive regex anchored at the start.
type route struct {
	path    string
	re      *regexp.Regexp
	service string
}

// ingressRoutes are the paths of the Ingress in the order nginx tries them:
// ingress-nginx sorts a server's locations longest path first, and the first
// regex location that matches wins.
func ingressRoutes(t *testing.T, m *manifests) []route {
	t.Helper()
	if len(m.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(m.ingresses))
	}
	ing := m.ingresses[0]
	if ing.Annotations["nginx.ingress.kubernetes.io/use-regex"] != "true" {
		t.Fatalf("ingress %s: paths are regexes only with nginx.ingress.kubernetes.io/use-regex: \"true\"", ing.Name)
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("ingress %s: ingressClassName should be nginx (the annotations are ingress-nginx's)", ing.Name)
	}
	var rs []route
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.PathType == nil || *p.PathType != networkingv1.PathTypeImplementationSpecific {
				t.Errorf("ingress path %s: pathType must be ImplementationSpecific for a regex", p.Path)
			}
			re, err := regexp.Compile("(?i)^" + p.Path)
			if err != nil {
				t.Errorf("ingress path %s: %v", p.Path, err)
				continue
			}
			b := p.Backend.Service
			if b == nil {
				t.Errorf("ingress path %s: no service backend", p.Path)
				continue
			}
			s, ok := m.services[b.Name]
			if !ok {
				t.Errorf("ingress path %s: backend Service %s is not in the build", p.Path, b.Name)
				continue
			}
			var port bool
			for _, sp := range s.Spec.Ports {
				port = port || (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
			}
			if !port || (b.Port.Name != "" && b.Port.Name != "http") || (b.Port.Number != 0 && b.Port.Number != httpPort) {
				t.Errorf("ingress path %s: backend port %+v, want service %s's http port", p.Path, b.Port, b.Name)
			}
			rs = append(rs, route{path: p.Path, re: re, service: b.Name})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].path) > len(rs[j].path) })
	return rs
}

func routeOf(rs []route, path string) string {
	for _, r := range rs {
		if r.re.MatchString(path) {
			return r.service
		}
	}
	return "" // the default backend: 404
}

func TestIngressRoutesEachPathToItsOwner(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		rs := ingressRoutes(t, m)
		for _, c := range []struct{ method, path, want string }{
			{"POST", "/v1/callbacks", "intake"},
			{"GET", "/v1/callbacks/0b9d6f2e", "intake"},
			{"DELETE", "/v1/callbacks/0b9d6f2e", "intake"},
			{"GET", "/callback", "intake"},
			{"POST", "/genesys/1/service/callback/support", "intake"},
			{"GET", "/genesys/1/service/callback/support/0b9d6f2e", "intake"},
			{"PUT", "/genesys/1/service/callback/support/0b9d6f2e", "intake"},
			{"GET", "/genesys/1/service/callback/support/availability", "scheduler"},
			{"GET", "/genesys/2/service/callback/support/availability", "scheduler"},
			{"GET", "/v1/schedule/0b9d6f2e", "scheduler"},
			{"GET", "/v1/queues", "router"},
			{"GET", "/v1/queues/web-callback", "router"},
			{"POST", "/v1/agents/agent-7/session", "agent-session"},
			{"PUT", "/v1/agents/agent-7/state", "agent-session"},
			{"GET", "/v1/agents/agent-7", "agent-session"},
			{"GET", "/v1/agents/agent-7/events", "agent-session"}, // not history's /events
			{"GET", "/agent/", "agent-session"},
			{"GET", "/agent/app.js", "agent-session"},
			{"GET", "/v1/interactions/i-42", "agent-session"},
			{"POST", "/v1/interactions/i-42/accept", "agent-session"},
			{"POST", "/v1/interactions/i-42/reject", "agent-session"},
			{"POST", "/v1/interactions/i-42/call", "agent-session"},
			{"POST", "/v1/interactions/i-42/end-call", "agent-session"},
			{"POST", "/v1/interactions/i-42/hold", "agent-session"},
			{"POST", "/v1/interactions/i-42/retrieve", "agent-session"},
			{"POST", "/v1/interactions/i-42/dtmf", "agent-session"},
			{"POST", "/v1/interactions/i-42/done", "agent-session"},
			{"PUT", "/v1/interactions/i-42/disposition", "disposition"},
			{"GET", "/v1/dispositions", "disposition"},
			{"GET", "/v1/interactions/i-42/events", "history"},
			{"POST", "/v1/interactions/i-42/notes", "history"},
			{"GET", "/v1/contacts/+33612345678/history", "history"},
			{"GET", "/v1/contacts/+33612345678/matrix", "history"},
			// Operational endpoints stay inside the cluster.
			{"GET", "/metrics", ""},
			{"GET", "/healthz", ""},
			{"GET", "/readyz", ""},
			{"GET", "/", ""},
		} {
			if got := routeOf(rs, c.path); got != c.want {
				t.Errorf("%s %s goes to %q, want %q", c.method, c.path, got, c.want)
			}
		}
	})
}

// handlePattern is a route a service registers on the shared mux, directly
// or as a row of its route table (agentauth.Route).
var handlePattern = regexp.MustCompile(`(?:\.Handle(?:Func)?\(|Pattern:\s*)"(?:[A-Z]+ )?(/[^"]*)"`)

// TestIngressReachesEveryServiceRoute reads the routes each service registers
// (services/<target>/*.go) and checks the Ingress sends each to that service,
// so a new route cannot ship unreachable or to the wrong pod.
func TestIngressReachesEveryServiceRoute(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		rs := ingressRoutes(t, m)
		wildcard := regexp.MustCompile(`\{[^}]*\}`)
		var checked int
		for _, tg := range targets {
			files, err := filepath.Glob(filepath.Join("..", "services", tg, "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Skipf("no sources in ../services/%s: not run from the repository", tg)
			}
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") {
					continue
				}
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, mm := range handlePattern.FindAllSubmatch(src, -1) {
					pattern := string(mm[1])
					path := wildcard.ReplaceAllString(pattern, "x1")
					if got := routeOf(rs, path); got != tg {
						t.Errorf("%s registers %s; the Ingress sends %s to %q", f, pattern, path, got)
					}
					checked++
				}
			}
		}
		if checked == 0 {
			t.Error("found no routes in ../services/*/: the pattern no longer matches how services register them")
		}
	})
}

// composeService is the part of a compose service the checks read.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Profiles    []string          `yaml:"profiles"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Tmpfs       []string          `yaml:"tmpfs"`
	Ports       []string          `yaml:"ports"`
	// StopGracePeriod is how long docker stop waits after SIGTERM.
	StopGracePeriod string `yaml:"stop_grace_period"`
	DependsOn       map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// storeProfiles are the compose profiles of the distributed mode, each with
// its one shared store: the service that runs it and what the services'
// store URL must start with and name.
var storeProfiles = map[string]struct{ service, scheme, at string }{
	"kurrentdb": {"kurrentdb", "esdb://", "kurrentdb:2113"},
	"postgres":  {"postgres", "postgres://", "@postgres:5432/"},
}

// setting is what s is told for flag: the command line wins over the
// environment, as in the binary.
func (s composeService) setting(flag string) string {
	for _, a := range s.Command {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	return s.Environment["RINGBACK_"+strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(flag))]
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yamlv3.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// composeScaleOut is the profile that shows the scale-out, and how many of
// which targets it runs at least.
var composeScaleOut = struct {
	profile  string
	replicas map[string]int
}{"postgres", map[string]int{"router": 2, "media-gateway": 2}}

// hostPort is the host side of a compose port mapping
// ([ip:]host:container[/proto]) with its protocol, e.g. "5060/udp".
func hostPort(mapping string) string {
	proto := "tcp"
	if i := strings.LastIndex(mapping, "/"); i >= 0 {
		mapping, proto = mapping[:i], mapping[i+1:]
	}
	parts := strings.Split(mapping, ":")
	if len(parts) < 2 {
		return mapping + "/" + proto // an ephemeral host port
	}
	return parts[len(parts)-2] + "/" + proto
}

// TestComposeRunsEveryTargetPerStore reads docker-compose.yml as compose
// would (YAML merge keys resolved) and checks each store profile runs the
// seven targets, on Kafka and on that profile's store, keeping nothing that
// must survive in a container's own volume; and that one profile runs the
// router and the gateway twice, each replica named and addressed apart.
func TestComposeRunsEveryTargetPerStore(t *testing.T) {
	f := readCompose(t)
	seen := map[string]map[string][]string{}    // profile -> target -> services
	hostPorts := map[string]map[string]string{} // profile -> host port -> service
	sipAddrs := map[string]map[string]string{}  // profile -> --sip -> service
	for p, st := range storeProfiles {
		seen[p], hostPorts[p], sipAddrs[p] = map[string][]string{}, map[string]string{}, map[string]string{}
		s, ok := f.Services[st.service]
		if !ok || !slices.Equal(s.Profiles, []string{p}) || s.Healthcheck == nil {
			t.Errorf("compose: want service %s in profile %s only, with a healthcheck", st.service, p)
		}
		if k := f.Services["kafka"]; !slices.Contains(k.Profiles, p) {
			t.Errorf("compose kafka: not in profile %s (profiles %v)", p, k.Profiles)
		}
	}
	usedVolumes := map[string]string{}
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if other, ok := usedVolumes[src]; ok && !strings.HasPrefix(name, "kafka") {
					t.Errorf("compose %s and %s share the volume %s", name, other, src)
				}
				usedVolumes[src] = name
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("compose %s: volume %s is not declared", name, src)
				}
			}
		}
		if !strings.HasPrefix(s.Image, "ringback") {
			continue
		}
		if s.Healthcheck == nil || !slices.ContainsFunc(s.Healthcheck.Test, func(a string) bool { return strings.HasSuffix(a, "/readyz") }) {
			t.Errorf("compose %s: the healthcheck should GET /readyz", name)
		}
		if slices.Contains(s.Profiles, "single") {
			continue
		}
		if len(s.Profiles) != 1 {
			t.Errorf("compose %s: profiles %v, want exactly one store profile", name, s.Profiles)
			continue
		}
		p := s.Profiles[0]
		st, ok := storeProfiles[p]
		if !ok {
			t.Errorf("compose %s: profile %s is not a store profile (%v)", name, p, slices.Sorted(maps.Keys(storeProfiles)))
			continue
		}
		tg, err := target(s.Command)
		if err != nil {
			t.Errorf("compose %s: %v", name, err)
			continue
		}
		seen[p][tg] = append(seen[p][tg], name)
		for _, pm := range s.Ports {
			hp := hostPort(pm)
			if other, ok := hostPorts[p][hp]; ok {
				t.Errorf("compose profile %s: %s and %s both publish host port %s", p, other, name, hp)
			}
			hostPorts[p][hp] = name
		}
		// A replicated target names each replica: the lease holder, the
		// owner of a call.
		if id, ok := instanceIDs[tg]; ok {
			if v := s.setting(id.fallback); v != name {
				t.Errorf("compose %s: --%s=%q, want the service's name %q", name, id.fallback, v, name)
			}
		}

		// The binary refuses --bus=kafka on the embedded store: every
		// service names the profile's store.
		if url := s.setting("eventstore"); !strings.HasPrefix(url, st.scheme) || !strings.Contains(url, st.at) {
			t.Errorf("compose %s (profile %s): store URL %q, want %s...%s...", name, p, url, st.scheme, st.at)
		}
		if s.setting("bus") != "kafka" || s.setting("kafka-brokers") != "kafka:9092" {
			t.Errorf("compose %s: bus %q on %q, want kafka on kafka:9092", name, s.setting("bus"), s.setting("kafka-brokers"))
		}
		for dep := range s.DependsOn {
			if other, ok := storeProfiles[dep]; ok && other.service != st.service {
				t.Errorf("compose %s (profile %s): depends on %s, the store of another profile", name, p, dep)
			}
		}
		for _, dep := range []string{"kafka", st.service} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("compose %s: should wait for %s to be healthy", name, dep)
			}
		}

		// --data is scratch (a tmpfs): the store is the shared one. Only
		// the gateway keeps a volume there, for its call recordings.
		var data string
		for _, v := range s.Volumes {
			if src, dst, ok := strings.Cut(v, ":"); ok && strings.TrimSuffix(dst, ":rw") == dataDir {
				data = src
			}
		}
		switch {
		case data != "" && (tg != "media-gateway" || !strings.Contains(data, "recordings")):
			t.Errorf("compose %s: volume %s on %s (--data): nothing there must survive with the shared store; use a tmpfs", name, data, dataDir)
		case data == "" && !slices.Contains(s.Tmpfs, dataDir):
			t.Errorf("compose %s: %s (--data) should be a tmpfs (the root is read-only)", name, dataDir)
		case data != "" && slices.Contains(s.Tmpfs, dataDir):
			t.Errorf("compose %s: %s is both a volume and a tmpfs", name, dataDir)
		case tg == "media-gateway" && data == "":
			t.Errorf("compose %s: call recordings (%s) need a volume", name, recordingsDir)
		}

		if tg == "media-gateway" {
			sip := s.setting("sip")
			if !strings.HasSuffix(sip, ":5060") {
				t.Errorf("compose %s: --sip=%q, want port 5060", name, sip)
			}
			if other, ok := sipAddrs[p][sip]; ok {
				t.Errorf("compose profile %s: gateways %s and %s both bind %s", p, other, name, sip)
			}
			sipAddrs[p][sip] = name
			for _, proto := range []string{"udp", "tcp"} {
				if !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":5060/"+proto) }) {
					t.Errorf("compose %s: the SIP port 5060/%s is not published (ports %q)", name, proto, s.Ports)
				}
			}
			// docker stop sends SIGTERM, then SIGKILL after the grace
			// period: the drain must fit.
			drain := drainIn(t, "compose "+name, s.Environment)
			if g, err := time.ParseDuration(s.StopGracePeriod); err != nil || g < drain+15*time.Second {
				t.Errorf("compose %s: stop_grace_period %q, want %s at least (the %s drain and the stop)", name, s.StopGracePeriod, drain+15*time.Second, drain)
			}
		}
	}
	for p := range storeProfiles {
		for _, tg := range targets {
			if len(seen[p][tg]) == 0 {
				t.Errorf("compose profile %s: no service runs --target=%s", p, tg)
			}
		}
	}
	for tg, n := range composeScaleOut.replicas {
		if got := seen[composeScaleOut.profile][tg]; len(got) < n {
			t.Errorf("compose profile %s: --target=%s runs in %v, want %d replicas to show the scale-out", composeScaleOut.profile, tg, got, n)
		}
	}

	single, ok := f.Services["single"]
	if !ok {
		t.Fatal("compose: no service single")
	}
	if !slices.Equal(single.Profiles, []string{"single"}) || !slices.Contains(single.Command, "--target=all") ||
		!slices.Contains(single.Command, "--demo") || single.setting("bus") != "" || single.setting("eventstore") != "" {
		t.Errorf("compose single: want profile single, --target=all --demo on the embedded defaults; got profiles %v, command %q, environment %v",
			single.Profiles, single.Command, single.Environment)
	}

	kafka := f.Services["kafka"]
	if !strings.HasPrefix(kafka.Image, "apache/kafka:3.9") || !strings.Contains(kafka.Environment["KAFKA_PROCESS_ROLES"], "controller") ||
		!strings.Contains(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"], "kafka:9092") {
		t.Errorf("compose kafka: want apache/kafka:3.9 in KRaft mode advertising kafka:9092, got %s %v", kafka.Image, kafka.Environment)
	}
	kdb := f.Services["kurrentdb"]
	if kdb.Healthcheck == nil || kdb.Environment["KURRENTDB_INSECURE"] != "true" || kdb.Environment["KURRENTDB_CLUSTER_SIZE"] != "1" {
		t.Errorf("compose kurrentdb: want an insecure single node with a healthcheck")
	}
	pg := f.Services["postgres"]
	if !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil ||
		!slices.ContainsFunc(pg.Healthcheck.Test, func(a string) bool { return strings.Contains(a, "pg_isready") }) ||
		!slices.ContainsFunc(pg.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/var/lib/postgresql/data") }) {
		t.Errorf("compose postgres: want a postgres image with a pg_isready healthcheck and a volume on its data directory")
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM golang:1.26 AS build",
		"CGO_ENABLED=0",
		"./cmd/ringback",
		"./deploy/cmd/healthcheck", // compose's healthcheck runs it
		"USER 65532:65532",
		"EXPOSE 8080 5060/udp",
		`ENTRYPOINT ["ringback", "serve"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestMakeImage checks `make image` builds the Dockerfile into
// ringback:<git describe>, and without a Docker engine fails before building,
// saying why (DOCKER_HOST names a socket that does not exist, so this holds
// on a machine where Docker runs too).
func TestMakeImage(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed (Debian package make)")
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command("make", append([]string{"-s", "-C", ".."}, args...)...)
		// Not the flags of a make that runs this test (make test).
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool {
			return strings.HasPrefix(e, "MAKEFLAGS=") || strings.HasPrefix(e, "MFLAGS=") || strings.HasPrefix(e, "MAKELEVEL=")
		}), "DOCKER_HOST=unix:///nonexistent/ringback-test/docker.sock")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-n", "image")
	if err != nil {
		t.Fatalf("make -n image: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^docker build -t ringback:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127} \.$`).MatchString(out) {
		t.Errorf("make -n image runs no `docker build -t ringback:<version> .`:\n%s", out)
	}
	out, err = run("image")
	if err == nil {
		t.Fatalf("make image without a Docker engine succeeded:\n%s", out)
	}
	if !strings.Contains(out, "make image: ") || !(strings.Contains(out, "no Docker engine") || strings.Contains(out, "not installed")) {
		t.Errorf("make image without a Docker engine should say so; it printed:\n%s", out)
	}
}
