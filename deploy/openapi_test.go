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
// "METHOD /path" and who may call it.
var tablePattern = regexp.MustCompile(`Pattern:\s*"([A-Z]+) (/v1/[^"]*)",\s*Access:\s*agentauth\.(\w+)`)

// accessNames are the x-access values of api/openapi.yaml for each
// agentauth.Access of a route table.
var accessNames = map[string]string{"Anyone": "anyone", "AnyAgent": "agent", "Entitled": "entitled"}

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
				routes = append(routes, route{string(m[1]), string(m[2]), string(m[3])})
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

// checkAccess holds an operation to the access its route table declares
// (issue 16): x-access says it; a route for agents answers 401 without a
// token, an entitled agent's 404 for what is not theirs; a route for
// anyone needs no token (an empty security requirement).
func checkAccess(t *testing.T, op map[string]any, route, access string) {
	t.Helper()
	want, ok := accessNames[access]
	if !ok {
		t.Errorf("%s: unknown access agentauth.%s", route, access)
		return
	}
	if got, _ := op["x-access"].(string); got != want {
		t.Errorf("api/openapi.yaml: %s has x-access %q, its route table says %q", route, got, want)
	}
	responses, _ := op["responses"].(map[string]any)
	has := func(code string) bool { _, ok := responses[code]; return ok }
	open := false
	if sec, ok := op["security"].([]any); ok {
		for _, req := range sec {
			if m, _ := req.(map[string]any); len(m) == 0 {
				open = true
			}
		}
	}
	switch access {
	case "Anyone":
		if !open {
			t.Errorf("api/openapi.yaml: %s is for anyone but requires a token (add security: [{}])", route)
		}
	default:
		if open || !has("401") {
			t.Errorf("api/openapi.yaml: %s is for agents: it must require the token and answer 401", route)
		}
		if access == "Entitled" && !has("404") {
			t.Errorf("api/openapi.yaml: %s answers 404 for what is not the agent's, but does not say so", route)
		}
	}
}
