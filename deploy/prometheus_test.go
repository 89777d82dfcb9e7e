package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
)

const (
	alertsFile     = "prometheus/alerts.yaml"
	alertsTestFile = "prometheus/alerts_test.yaml"
	dashboardFile  = "grafana/ringback.json"
)

// promtool is the path of Prometheus's promtool (Debian package prometheus,
// which .ci/run installs), or a skip saying so.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found: install Debian's prometheus package (apt-get install prometheus) to check the alert rules and the dashboard's queries")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules: the rules load (`promtool check rules`) and do what their
// unit tests say (`promtool test rules`): each alert fires on its situation
// after its `for`, and not on healthy traffic.
func TestAlertRules(t *testing.T) {
	runPromtool(t, "check", "rules", alertsFile)
	runPromtool(t, "test", "rules", alertsTestFile)
}

// dashboard is the part of a Grafana dashboard model the checks read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// grafanaVars are the Grafana macros the dashboard's queries use, with what
// Prometheus can parse in their place.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// TestDashboardModel: the dashboard is a Grafana model an import accepts
// (uid, title, schema version, panels on the 24-column grid with unique
// ids), every panel but rows queries the Prometheus data source variable,
// and every query parses as PromQL (each checked by promtool as a recording
// rule).
func TestDashboardModel(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("%s: uid %q title %q schemaVersion %d, %d panels", dashboardFile, d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query string `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("%s: no Prometheus data source variable named datasource", dashboardFile)
	}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: want a title, the ${datasource} data source and at least one query", p.ID, p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: query %q with refId %q (empty or repeated)", p.Title, tg.Expr, tg.RefID)
			}
			refs[tg.RefID] = true
			exprs = append(exprs, tg.Expr)
		}
	}

	tool := promtool(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: grafanaVars.Replace(e)})
	}
	b, err := yamlv3.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Fatalf("%s: a query does not parse: %v\n%s", dashboardFile, err, out)
	}
}

// metricName is a ringback metric in PromQL or a series selector.
var metricName = regexp.MustCompile(`\bringback_[a-z0-9_]+`)

// registration is a metric registered in Go: a prometheus.New<Kind>[Vec|Func]
// with its Name, or a custom collector's NewDesc.
var registration = regexp.MustCompile(`prometheus\.New(Counter|Gauge|Histogram|Summary|Untyped)\w*\(\s*prometheus\.\w+Opts\{[^}]*?Name:\s*"(ringback_[a-z0-9_]+)"|NewDesc\(\s*"(ringback_[a-z0-9_]+)"`)

// registeredMetrics greps the code of every module for the metrics it
// registers: name -> kind (Counter, Gauge, Histogram...).
func registeredMetrics(t *testing.T) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, root := range []string{"../libs", "../services", "../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range registration.FindAllStringSubmatch(string(b), -1) {
				switch {
				case m[2] != "":
					got[m[2]] = m[1]
				case m[3] != "":
					got[m[3]] = "Desc"
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// TestOperationsMetricsExist: every ringback metric the dashboard, the alert
// rules and their tests name is one the code registers (a histogram's
// _bucket, _sum and _count included), so a renamed metric cannot leave a
// panel or an alert silently empty.
func TestOperationsMetricsExist(t *testing.T) {
	registered := registeredMetrics(t)
	for _, want := range []string{"ringback_bus_consumer_lag_seconds", "ringback_relay_lag_seconds", "ringback_router_offer_outcomes_total"} {
		if _, ok := registered[want]; !ok {
			t.Fatalf("the registration grep found no %s (%d metrics found): the pattern no longer matches how the code registers metrics", want, len(registered))
		}
	}
	known := func(name string) bool {
		if _, ok := registered[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && registered[base] == "Histogram" {
				return true
			}
		}
		return false
	}
	used := map[string][]string{} // metric -> files naming it
	for _, f := range []string{alertsFile, alertsTestFile, dashboardFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if f != dashboardFile {
			// Annotations name metrics for people too: hold them to it.
			text = strings.ReplaceAll(text, "`", " ")
		}
		for _, name := range metricName.FindAllString(text, -1) {
			if !slices.Contains(used[name], f) {
				used[name] = append(used[name], f)
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("found only %d metric names in the dashboard and rules", len(used))
	}
	for name, files := range used {
		if !known(name) {
			t.Errorf("%s (in %s) is not a metric the code registers", name, strings.Join(files, ", "))
		}
	}
}
