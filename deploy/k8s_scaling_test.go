package deploy

// How the manifests scale out and roll over (README.md, "How ringback
// scales"): replicas on different nodes, autoscalers for the services any
// replica can serve, the router's and the gateway's instance ids, and
// rollouts that refuse no request and cut no call.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serviceSources is the Go source of services/<tg>, tests excluded, or nil
// when the tests do not run from the repository.
func serviceSources(t *testing.T, tg string) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "services", tg, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var src []byte
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
		src = append(src, '\n')
	}
	return src
}

// flagDecl is a flag registration: fs.DurationVar(&c.X, "name", default, ...
var flagDecl = regexp.MustCompile(`\.(?:Duration|String|Int|Bool)Var\(\s*&[^,]+,\s*"([^"]+)",\s*([^,\n]+),`)

// flagOf is the flag of src whose name matches re, and the Go expression of
// its default; "" when there is none.
func flagOf(src []byte, re *regexp.Regexp) (name, def string) {
	for _, m := range flagDecl.FindAllSubmatch(src, -1) {
		if re.Match(m[1]) {
			return string(m[1]), strings.TrimSpace(string(m[2]))
		}
	}
	return "", ""
}

// goDuration evaluates a duration default as flags spell it: 5*time.Minute,
// time.Second, or a constant of src defined so.
func goDuration(src []byte, expr string) (time.Duration, bool) {
	lit := regexp.MustCompile(`^(?:(\d+)\s*\*\s*)?time\.(Millisecond|Second|Minute|Hour)$`)
	if m := lit.FindStringSubmatch(expr); m != nil {
		n := 1
		if m[1] != "" {
			n, _ = strconv.Atoi(m[1])
		}
		unit := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}[m[2]]
		return time.Duration(n) * unit, true
	}
	if regexp.MustCompile(`^[A-Za-z_]\w*$`).MatchString(expr) {
		def := regexp.MustCompile(`(?m)^\s*` + expr + `\s*(?:time\.Duration\s*)?=\s*(.+?)\s*(?://.*)?$`)
		if m := def.FindSubmatch(src); m != nil && string(m[1]) != expr {
			return goDuration(src, string(m[1]))
		}
	}
	return 0, false
}

// instanceIDs are the flags that name a replica, each of which must be the
// pod's name (the downward API), so that a lease's holder and a call's
// owner read as a pod; fallback is the flag's name when the service's source
// is not at hand (the test run outside the repository).
var instanceIDs = map[string]struct{ flag, fallback string }{
	"router":        {`^router\.instance-id$`, "router.instance-id"},
	"media-gateway": {`^media\.instance-id$`, "media.instance-id"},
}

func TestReplicasAreNamedByTheirPod(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for tg, id := range instanceIDs {
			flag := id.fallback
			if src := serviceSources(t, tg); src != nil {
				if flag, _ = flagOf(src, regexp.MustCompile(id.flag)); flag == "" {
					t.Errorf("services/%s registers no flag matching %s: the manifests set it", tg, id.flag)
					continue
				}
			}
			w, ok := m.workloads[tg]
			if !ok {
				t.Errorf("no workload %s", tg)
				continue
			}
			env := envName(flag)
			_, from := envOf(t, m, tg, container(t, w))
			if f := from[env]; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("%s %s: %s (--%s) should be the pod's name (fieldRef metadata.name), got %+v", w.kind, tg, env, flag, f)
			}
		}
	})
}

// envName is the environment variable of a flag, as the binary reads it.
func envName(flag string) string {
	return "RINGBACK_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(flag))
}

// kafkaPartitions is the partition count the services create topics with,
// from the ConfigMap; the binary's default when unset.
func kafkaPartitions(t *testing.T, m *manifests) int {
	t.Helper()
	for _, cm := range m.configMaps {
		if v, ok := cm.Data["RINGBACK_KAFKA_PARTITIONS"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("ConfigMap %s: RINGBACK_KAFKA_PARTITIONS=%q is not a count", cm.Name, v)
			}
			return n
		}
	}
	return 4
}

func TestStatelessServicesAutoscaleOnCPU(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		partitions := kafkaPartitions(t, m)
		scaled := map[string]bool{}
		for name, h := range m.hpas {
			ref := h.Spec.ScaleTargetRef
			w, ok := m.workloads[ref.Name]
			if !ok || ref.Kind != w.kind || ref.APIVersion != "apps/v1" {
				t.Errorf("hpa %s: scales %s %s (%s), not a workload of the build", name, ref.Kind, ref.Name, ref.APIVersion)
				continue
			}
			if scaled[ref.Name] {
				t.Errorf("hpa %s: %s is scaled by two autoscalers", name, ref.Name)
			}
			scaled[ref.Name] = true
			if !autoscaled[ref.Name] {
				t.Errorf("hpa %s scales %s, which does not share its work among any number of replicas (see autoscaled)", name, ref.Name)
			}
			if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
				t.Errorf("hpa %s: minReplicas %v, want 2 or more (a node drain must leave one)", name, h.Spec.MinReplicas)
			}
			if h.Spec.MinReplicas != nil && h.Spec.MaxReplicas <= *h.Spec.MinReplicas {
				t.Errorf("hpa %s: maxReplicas %d leaves nothing to scale above minReplicas %d", name, h.Spec.MaxReplicas, *h.Spec.MinReplicas)
			}
			// A replica with no partition of its topics only serves HTTP:
			// the consumer group hands out partitions, not messages.
			if int(h.Spec.MaxReplicas) > partitions {
				t.Errorf("hpa %s: maxReplicas %d above the %d Kafka partitions (RINGBACK_KAFKA_PARTITIONS): the replicas beyond idle on the bus", name, h.Spec.MaxReplicas, partitions)
			}
			var cpu bool
			for _, ms := range h.Spec.Metrics {
				if ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource != nil && ms.Resource.Name == corev1.ResourceCPU &&
					ms.Resource.Target.Type == autoscalingv2.UtilizationMetricType && ms.Resource.Target.AverageUtilization != nil {
					u := *ms.Resource.Target.AverageUtilization
					cpu = u >= 30 && u <= 90
				}
			}
			if !cpu {
				t.Errorf("hpa %s: want a CPU utilization target between 30%% and 90%% of the requests", name)
			}
			c := container(t, w)
			if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
				t.Errorf("%s %s: no CPU request, which CPU utilization is a percentage of", w.kind, w.name)
			}
			// kubectl apply would reset the count the autoscaler set.
			if w.replicas != nil {
				t.Errorf("%s %s: replicas %d under hpa %s: leave replicas out, or every apply resets the autoscaler's count", w.kind, w.name, *w.replicas, name)
			}
			// Scaling down moves partitions (a rebalance) and reconnects
			// desktops: slowly.
			if b := h.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil ||
				*b.ScaleDown.StabilizationWindowSeconds < 60 {
				t.Errorf("hpa %s: want a scale-down stabilization window of a minute or more", name)
			}
		}
		for tg := range autoscaled {
			if !scaled[tg] {
				t.Errorf("no HorizontalPodAutoscaler scales %s", tg)
			}
		}
	})
}

// spreadSelects reports whether sel (a term's label selector) selects the
// pods of w and of no other workload.
func spreadSelects(t *testing.T, m *manifests, sel *metav1.LabelSelector, w workload) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("%s %s: %v", w.kind, w.name, err)
	}
	for _, o := range m.workloads {
		if selects(s, o) != (o.name == w.name) {
			return false
		}
	}
	return true
}

func TestReplicasSpreadAcrossNodesAndZones(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, w := range m.workloads {
			if replicasOf(m, w) < 2 {
				continue
			}
			ps := w.template.Spec
			// Required anti-affinity would leave a rollout's extra pod, or a
			// replica on a cluster of fewer nodes, unscheduled: preferred.
			var hostname bool
			if a := ps.Affinity; a != nil && a.PodAntiAffinity != nil {
				if len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
					t.Errorf("%s %s: required pod anti-affinity blocks a surge or a small cluster; prefer it", w.kind, name)
				}
				for _, p := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
					term := p.PodAffinityTerm
					if term.TopologyKey == corev1.LabelHostname && p.Weight >= 50 && spreadSelects(t, m, term.LabelSelector, w) {
						hostname = true
					}
				}
			}
			if !hostname {
				t.Errorf("%s %s: %d replicas without a preferred pod anti-affinity on %s selecting its own pods", w.kind, name, replicasOf(m, w), corev1.LabelHostname)
			}
			var zone bool
			for _, c := range ps.TopologySpreadConstraints {
				if c.WhenUnsatisfiable == corev1.DoNotSchedule {
					t.Errorf("%s %s: topology spread on %s with DoNotSchedule blocks scheduling in a cluster without that topology", w.kind, name, c.TopologyKey)
				}
				if c.TopologyKey == corev1.LabelTopologyZone && c.MaxSkew == 1 && spreadSelects(t, m, c.LabelSelector, w) {
					zone = true
				}
			}
			if !zone {
				t.Errorf("%s %s: no topology spread across %s selecting its own pods", w.kind, name, corev1.LabelTopologyZone)
			}
		}
	})
}

// drainFlag is the media gateway's flag for how long it lets its calls go on
// after SIGTERM; drainFallback its default when the source is not at hand.
var drainFlag = regexp.MustCompile(`^media\.[a-z-]*(?:drain|grace)[a-z-]*$`)

const drainFallback = 5 * time.Minute

// gatewayDrainFlag is the gateway's drain flag and its default, read from
// the gateway's source; when the source is not at hand, the flag is ""
// and the default drainFallback.
func gatewayDrainFlag(t *testing.T) (flag string, def time.Duration) {
	t.Helper()
	src := serviceSources(t, "media-gateway")
	if src == nil {
		t.Logf("no sources in ../services/media-gateway: taking a drain of %s", drainFallback)
		return "", drainFallback
	}
	flag, expr := flagOf(src, drainFlag)
	if flag == "" {
		t.Fatalf("services/media-gateway registers no drain flag (matching %s): the grace period is sized on it", drainFlag)
	}
	def, ok := goDuration(src, expr)
	if !ok {
		t.Fatalf("--%s: cannot read its default %q", flag, expr)
	}
	return flag, def
}

// drainIn is how long a gateway told env drains: the drain flag's setting
// there, or its default.
func drainIn(t *testing.T, who string, env map[string]string) time.Duration {
	t.Helper()
	flag, def := gatewayDrainFlag(t)
	if v, ok := env[envName(flag)]; ok && flag != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %s=%q: %v", who, envName(flag), v, err)
		}
		return d
	}
	return def
}

// gatewayDrain is how long the gateway workload w drains on SIGTERM.
func gatewayDrain(t *testing.T, m *manifests, w workload) time.Duration {
	t.Helper()
	env, _ := envOf(t, m, w.name, container(t, w))
	return drainIn(t, w.kind+" "+w.name, env)
}

// preStopSleep is how long c's preStop hook holds the stop, and whether it
// has one the checks understand.
func preStopSleep(c corev1.Container) (time.Duration, bool) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0, true
	}
	if s := c.Lifecycle.PreStop.Sleep; s != nil {
		return time.Duration(s.Seconds) * time.Second, true
	}
	return 0, false
}

// httpShutdown is how long the binary waits for HTTP requests in flight
// once it stops (cmd/ringback, app.go).
const httpShutdown = 10 * time.Second

func TestRolloutsDropNoRequestAndNoCall(t *testing.T) {
	eachBuild(t, func(t *testing.T, m *manifests) {
		for name, d := range m.deployments {
			w := m.workloads[name]
			// A new pod is ready before an old one goes.
			st := d.Spec.Strategy
			ru := st.RollingUpdate
			if st.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxSurge == nil ||
				*ru.MaxUnavailable != intstr.FromInt32(0) || *ru.MaxSurge != intstr.FromInt32(1) {
				t.Errorf("deployment %s: strategy %+v, want RollingUpdate with maxUnavailable 0 and maxSurge 1", name, st)
			}
			// The pod serves on while the Service's endpoints forget it.
			c := container(t, w)
			pre, ok := preStopSleep(c)
			if !ok || pre < 3*time.Second {
				t.Errorf("deployment %s: want a preStop sleep of a few seconds (the endpoints and the ingress forget the pod after SIGTERM), got %+v", name, c.Lifecycle)
			}
			grace := 30 * time.Second
			if g := w.template.Spec.TerminationGracePeriodSeconds; g != nil {
				grace = time.Duration(*g) * time.Second
			}
			if grace < pre+httpShutdown+5*time.Second {
				t.Errorf("deployment %s: terminationGracePeriodSeconds %s leaves the preStop %s and the HTTP shutdown %s no time", name, grace, pre, httpShutdown)
			}
		}
		for name, sts := range m.statefulSets {
			w := m.workloads[name]
			if sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
				t.Errorf("StatefulSet %s: updateStrategy %q, want RollingUpdate (one instance at a time)", name, sts.Spec.UpdateStrategy.Type)
			}
			if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ((ru.MaxUnavailable != nil && ru.MaxUnavailable.IntValue() != 1) ||
				(ru.Partition != nil && *ru.Partition != 0)) {
				t.Errorf("StatefulSet %s: rollingUpdate %+v, want one instance at a time over all of them", name, ru)
			}
			if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				t.Errorf("StatefulSet %s: podManagementPolicy %q, want Parallel: one instance that cannot start must not hold back the others", name, sts.Spec.PodManagementPolicy)
			}
			if sts.Spec.MinReadySeconds < 5 {
				t.Errorf("StatefulSet %s: minReadySeconds %d: the next instance drains before its successor has settled", name, sts.Spec.MinReadySeconds)
			}
			if name != "media-gateway" {
				continue
			}
			// SIGTERM starts the drain: the grace period must cover it, and
			// the hang-up and stop after it.
			drain := gatewayDrain(t, m, w)
			c := container(t, w)
			pre, ok := preStopSleep(c)
			if !ok {
				t.Errorf("media-gateway: a preStop hook other than sleep: %+v", c.Lifecycle)
			}
			grace := 30 * time.Second // the API server's default
			if g := w.template.Spec.TerminationGracePeriodSeconds; g != nil {
				grace = time.Duration(*g) * time.Second
			}
			if grace < pre+drain+15*time.Second {
				t.Errorf("media-gateway: terminationGracePeriodSeconds %s, want %s at least: the %s drain, 15 s to hang up and stop, the preStop %s",
					grace, pre+drain+15*time.Second, drain, pre)
			}
			if grace > pre+drain+2*time.Minute {
				t.Errorf("media-gateway: terminationGracePeriodSeconds %s far above the %s drain: a stuck stop holds the rollout that long", grace, drain)
			}
			if r := c.ReadinessProbe; r == nil || r.HTTPGet == nil || r.HTTPGet.Path != "/readyz" {
				t.Error("media-gateway: readiness should follow /readyz, which fails from the start of the drain")
			}
		}
	})
}
