// Package deploy holds what runs ringback: the Kubernetes base in k8s/ and,
// at the repository root, the Dockerfile and docker-compose.yml. These tests
// need no cluster and no Docker engine: they build k8s/ with kustomize in
// process, decode every object strictly into the k8s.io/api types (a
// misspelt field fails, as it would at the API server), and check the
// invariants of the distributed mode on the result and on the compose file.
package deploy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
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

// singleWriters run one replica, replaced with Recreate: the router's
// dispatcher and the gateway's live SIP dialogs are single writers for now.
var singleWriters = map[string]bool{"router": true, "media-gateway": true}

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

// manifests is the kustomize build of k8s/, decoded.
type manifests struct {
	namespaces  []corev1.Namespace
	configMaps  map[string]corev1.ConfigMap
	deployments map[string]appsv1.Deployment
	services    map[string]corev1.Service
	ingresses   []networkingv1.Ingress
	pdbs        []policyv1.PodDisruptionBudget
}

var built = sync.OnceValues(func() (*manifests, error) { return build("k8s") })

func mustBuild(t *testing.T) *manifests {
	t.Helper()
	m, err := built()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// build runs kustomize on dir and decodes every object strictly into its
// k8s.io/api type. A kind with no type here is an error: add it and its
// invariants together.
func build(dir string) (*manifests, error) {
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	m := &manifests{
		configMaps:  map[string]corev1.ConfigMap{},
		deployments: map[string]appsv1.Deployment{},
		services:    map[string]corev1.Service{},
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
		case "v1 Service":
			var o corev1.Service
			errs = append(errs, decodeStrict(id, y, &o))
			m.services[o.Name] = o
		case "networking.k8s.io/v1 Ingress":
			var o networkingv1.Ingress
			errs = append(errs, decodeStrict(id, y, &o))
			m.ingresses = append(m.ingresses, o)
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
	m := mustBuild(t)
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
	for n, o := range m.services {
		check("Service", n, o.Namespace)
	}
	for _, o := range m.ingresses {
		check("Ingress", o.Name, o.Namespace)
	}
	for _, o := range m.pdbs {
		check("PodDisruptionBudget", o.Name, o.Namespace)
	}
}

// container is the ringback container of d.
func container(t *testing.T, d appsv1.Deployment) corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("deployment %s: %d containers, want 1", d.Name, len(cs))
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

func TestEveryTargetRunsInItsOwnDeployment(t *testing.T) {
	m := mustBuild(t)
	seen := map[string]string{}
	for name, d := range m.deployments {
		c := container(t, d)
		if len(c.Command) > 0 {
			t.Errorf("deployment %s: command %q overrides the image's entrypoint (ringback serve)", name, c.Command)
		}
		tg, err := target(c.Args)
		if err != nil {
			t.Errorf("deployment %s: %v", name, err)
			continue
		}
		if tg != name {
			t.Errorf("deployment %s runs --target=%s: name a Deployment after its target", name, tg)
		}
		if other, ok := seen[tg]; ok {
			t.Errorf("--target=%s in deployments %s and %s", tg, other, name)
		}
		seen[tg] = name
	}
	for _, tg := range targets {
		if _, ok := seen[tg]; !ok {
			t.Errorf("no Deployment runs --target=%s", tg)
		}
	}
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
	m := mustBuild(t)
	for name, d := range m.deployments {
		c := container(t, d)
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
}

// envOf is what c's environment resolves to from the ConfigMaps and its own
// env (own env wins, as in the kubelet); envFrom must name ConfigMaps of the
// build.
func envOf(t *testing.T, m *manifests, name string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("deployment %s: envFrom other than a ConfigMap", name)
			continue
		}
		cm, ok := m.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Errorf("deployment %s: envFrom ConfigMap %q is not in the build", name, from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func TestCommonEnvironment(t *testing.T) {
	m := mustBuild(t)
	for name, d := range m.deployments {
		c := container(t, d)
		env := envOf(t, m, name, c)
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
		for _, k := range []string{"RINGBACK_KAFKA_BROKERS", "RINGBACK_EVENTSTORE"} {
			if env[k] == "" {
				t.Errorf("deployment %s: %s is empty", name, k)
			}
		}
		if !strings.HasPrefix(env["RINGBACK_EVENTSTORE"], "esdb://") {
			t.Errorf("deployment %s: RINGBACK_EVENTSTORE=%q, want an esdb:// connection string", name, env["RINGBACK_EVENTSTORE"])
		}
		if name == "media-gateway" {
			if sip := env["RINGBACK_SIP"]; !strings.HasPrefix(sip, "$(POD_IP):") {
				t.Errorf("media-gateway: RINGBACK_SIP=%q, want the pod IP (the gateway advertises the address it binds)", sip)
			}
		}
	}
}

func TestResourcesFitTwoCoreNodes(t *testing.T) {
	m := mustBuild(t)
	cpu, mem := resource.MustParse(nodeCPU), resource.MustParse(nodeMemory)
	var sumCPU, sumMem resource.Quantity
	for name, d := range m.deployments {
		c := container(t, d)
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
		replicas := int64(1)
		if d.Spec.Replicas != nil {
			replicas = int64(*d.Spec.Replicas)
		}
		for range replicas {
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
}

func TestPodsRunNonRootOnAReadOnlyRoot(t *testing.T) {
	m := mustBuild(t)
	for name, d := range m.deployments {
		ps := d.Spec.Template.Spec
		c := container(t, d)
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
		if ann := d.Spec.Template.Annotations; ann["prometheus.io/scrape"] != "true" ||
			ann["prometheus.io/port"] != fmt.Sprint(httpPort) || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("deployment %s: pod template lacks the prometheus.io scrape annotations: %v", name, ann)
		}
	}
}

// selects reports whether the PodDisruptionBudget or Service selector sel
// selects the pods of d.
func selects(sel labels.Selector, d appsv1.Deployment) bool {
	return !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels))
}

func TestReplicasAndDisruptionBudgets(t *testing.T) {
	m := mustBuild(t)
	for name, d := range m.deployments {
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		var budgets []string
		for _, p := range m.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil {
				t.Fatalf("pdb %s: %v", p.Name, err)
			}
			if selects(sel, d) {
				budgets = append(budgets, p.Name)
			}
		}
		if singleWriters[name] {
			if replicas != 1 {
				t.Errorf("deployment %s: %d replicas; it is a single writer for now, run 1", name, replicas)
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("deployment %s: strategy %q lets two single writers overlap in a rollout; use Recreate", name, d.Spec.Strategy.Type)
			}
			if len(budgets) > 0 {
				t.Errorf("deployment %s: one replica under budgets %v blocks every node drain", name, budgets)
			}
			continue
		}
		if replicas < 2 {
			t.Errorf("deployment %s: %d replicas, want 2 or more", name, replicas)
		}
		if len(budgets) != 1 {
			t.Errorf("deployment %s: selected by budgets %v, want exactly one", name, budgets)
			continue
		}
		for _, p := range m.pdbs {
			if p.Name != budgets[0] {
				continue
			}
			switch {
			case p.Spec.MinAvailable != nil:
				if v := p.Spec.MinAvailable.IntValue(); p.Spec.MinAvailable.Type != intstr.Int || v < 1 || v >= int(replicas) {
					t.Errorf("pdb %s: minAvailable %s, want at least 1 and fewer than %d replicas", p.Name, p.Spec.MinAvailable.String(), replicas)
				}
			case p.Spec.MaxUnavailable != nil:
			default:
				t.Errorf("pdb %s: neither minAvailable nor maxUnavailable", p.Name)
			}
		}
	}
}

func TestServicesSelectTheirDeployment(t *testing.T) {
	m := mustBuild(t)
	for _, tg := range targets {
		if _, ok := m.services[tg]; !ok {
			t.Errorf("no Service %s", tg)
		}
	}
	for name, s := range m.services {
		sel := labels.SelectorFromSet(s.Spec.Selector)
		var matched []string
		for dn, d := range m.deployments {
			if selects(sel, d) {
				matched = append(matched, dn)
			}
		}
		if len(matched) != 1 || matched[0] != name {
			t.Errorf("service %s selects the pods of %v, want those of deployment %s only", name, matched, name)
			continue
		}
		d := m.deployments[name]
		// The Deployment's own selector must match its template, and the
		// Service's ports must name ports the container has.
		dsel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !selects(dsel, d) {
			t.Errorf("deployment %s: selector does not match its pod template (%v)", name, err)
		}
		c := container(t, d)
		want := map[string]corev1.Protocol{"http": corev1.ProtocolTCP}
		if name == "media-gateway" {
			want["sip"] = corev1.ProtocolUDP
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
	rs := ingressRoutes(t, mustBuild(t))
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/v1/callbacks", "intake"},
		{"GET", "/v1/callbacks/0b9d6f2e", "intake"},
		{"DELETE", "/v1/callbacks/0b9d6f2e", "intake"},
		{"GET", "/callback", "intake"},
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
}

// handlePattern is a route a service registers on the shared mux.
var handlePattern = regexp.MustCompile(`\.Handle(?:Func)?\("(?:[A-Z]+ )?(/[^"]*)"`)

// TestIngressReachesEveryServiceRoute reads the routes each service registers
// (services/<target>/*.go) and checks the Ingress sends each to that service,
// so a new route cannot ship unreachable or to the wrong pod.
func TestIngressReachesEveryServiceRoute(t *testing.T) {
	rs := ingressRoutes(t, mustBuild(t))
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
}

// composeService is the part of a compose service the checks read.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Profiles    []string          `yaml:"profiles"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
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

func TestComposeRunsEachTargetOnceOnKafka(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yamlv3.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	want := []string{"--bus=kafka", "--kafka-brokers=kafka:9092", "--eventstore=esdb://kurrentdb:2113?tls=false"}
	seen := map[string]string{}
	dataVolumes := map[string]string{}
	for name, s := range f.Services {
		if !strings.HasPrefix(s.Image, "ringback") {
			continue
		}
		if s.Healthcheck == nil || !slices.ContainsFunc(s.Healthcheck.Test, func(a string) bool { return strings.HasSuffix(a, "/readyz") }) {
			t.Errorf("compose %s: the healthcheck should GET /readyz", name)
		}
		if slices.Contains(s.Profiles, "single") {
			continue
		}
		tg, err := target(s.Command)
		if err != nil {
			t.Errorf("compose %s: %v", name, err)
			continue
		}
		if other, ok := seen[tg]; ok {
			t.Errorf("compose: --target=%s in %s and %s", tg, other, name)
		}
		seen[tg] = name
		for _, w := range want {
			if !slices.Contains(s.Command, w) {
				t.Errorf("compose %s: command %q lacks %s", name, s.Command, w)
			}
		}
		for _, dep := range []string{"kafka", "kurrentdb"} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("compose %s: should wait for %s to be healthy", name, dep)
			}
		}
		var data string
		for _, v := range s.Volumes {
			if src, dst, ok := strings.Cut(v, ":"); ok && strings.TrimSuffix(dst, ":rw") == dataDir {
				data = src
			}
		}
		if data == "" {
			t.Errorf("compose %s: no volume on %s (--data, the relay checkpoint)", name, dataDir)
		} else if other, ok := dataVolumes[data]; ok {
			t.Errorf("compose %s and %s share the data volume %s", name, other, data)
		} else if _, ok := f.Volumes[data]; !ok {
			t.Errorf("compose %s: volume %s is not declared", name, data)
		}
		dataVolumes[data] = name
	}
	for _, tg := range targets {
		if _, ok := seen[tg]; !ok {
			t.Errorf("compose: no service runs --target=%s", tg)
		}
	}

	single, ok := f.Services["single"]
	if !ok {
		t.Fatal("compose: no service single")
	}
	if !slices.Contains(single.Profiles, "single") || !slices.Contains(single.Command, "--target=all") ||
		!slices.Contains(single.Command, "--demo") || slices.ContainsFunc(single.Command, func(a string) bool {
		return strings.HasPrefix(a, "--bus") || strings.HasPrefix(a, "--eventstore")
	}) {
		t.Errorf("compose single: want profile single, --target=all --demo on the embedded defaults; got profiles %v, command %q",
			single.Profiles, single.Command)
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
