package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// methodPattern reads "METHOD /path" from a route registration.
var methodPattern = regexp.MustCompile(`\.Handle(?:Func)?\("([A-Z]+) (/v1/[^"]*)"`)

// tablePattern reads a row of a service's route table (agentauth.Route):
// "METHOD /path". Its roles are constants the source combines, so that the
// x-roles of each operation are checked against the running binary's
// tables instead (cmd/ringback TestRouteRoleMatrix, via GET /admin/routes).
var tablePattern = regexp.MustCompile(`Pattern:\s*"([A-Z]+) (/v1/[^"]*)"`)

// TestOpenAPIDescribesEveryRoute keeps api/openapi.yaml, the contract
// external clients use, true: every /v1 route a service registers is there
// with its method.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			PathItems       map[string]map[string]any `yaml:"pathItems"`
			SecuritySchemes map[string]any            `yaml:"securitySchemes"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	methods := func(item map[string]any) map[string]bool {
		out := map[string]bool{}
		if ref, ok := item["$ref"].(string); ok {
			item = doc.Components.PathItems[strings.TrimPrefix(ref, "#/components/pathItems/")]
		}
		for k := range item {
			out[strings.ToUpper(k)] = true
		}
		return out
	}
	checked := 0
	for _, tg := range targets {
		files, _ := filepath.Glob(filepath.Join("..", "services", tg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			type route struct{ method, path, access string }
			var routes []route
			for _, m := range methodPattern.FindAllSubmatch(src, -1) {
				routes = append(routes, route{string(m[1]), string(m[2]), ""})
			}
			for _, m := range tablePattern.FindAllSubmatch(src, -1) {
				routes = append(routes, route{string(m[1]), string(m[2]), "table"})
			}
			for _, rt := range routes {
				method, path := rt.method, rt.path
				checked++
				item, ok := doc.Paths[path]
				if !ok {
					t.Errorf("%s registers %s %s, which api/openapi.yaml does not describe", f, method, path)
					continue
				}
				if !methods(item)[method] {
					t.Errorf("api/openapi.yaml describes %s but not its %s (registered in %s)", path, method, f)
					continue
				}
				if rt.access != "" {
					checkAccess(t, operation(item, doc.Components.PathItems, method), method+" "+path, rt.access)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no routes in ../services/*/")
	}
}

// operation is the OpenAPI operation of method on a path item, following a
// $ref to components.pathItems.
func operation(item map[string]any, pathItems map[string]map[string]any, method string) map[string]any {
	if ref, ok := item["$ref"].(string); ok {
		item = pathItems[strings.TrimPrefix(ref, "#/components/pathItems/")]
	}
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// checkAccess holds an operation of a route table to the shape issue 16
// asks: x-roles names who may call it, security lets a visitor in (an
// empty requirement) exactly when x-roles does, and a route closed to
// visitors says it answers 401.
func checkAccess(t *testing.T, op map[string]any, route, _ string) {
	t.Helper()
	roles, _ := op["x-roles"].([]any)
	if len(roles) == 0 {
		t.Errorf("api/openapi.yaml: %s has no x-roles: say who may call it, as its route table does", route)
		return
	}
	visitor := false
	for _, r := range roles {
		visitor = visitor || r == "visitor"
	}
	responses, _ := op["responses"].(map[string]any)
	_, has401 := responses["401"]
	open := false
	sec, ok := op["security"].([]any)
	for _, req := range sec {
		if m, _ := req.(map[string]any); len(m) == 0 {
			open = true
		}
	}
	switch {
	case !ok:
		t.Errorf("api/openapi.yaml: %s states no security of its own", route)
	case visitor && !open:
		t.Errorf("api/openapi.yaml: %s is for visitors but requires a credential (add {} to security)", route)
	case !visitor && open:
		t.Errorf("api/openapi.yaml: %s is not for visitors, yet its security lets them in", route)
	case !visitor && !has401:
		t.Errorf("api/openapi.yaml: %s needs a credential: it must say it answers 401", route)
	}
}
