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
			PathItems map[string]map[string]any `yaml:"pathItems"`
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
			for _, m := range methodPattern.FindAllSubmatch(src, -1) {
				method, path := string(m[1]), string(m[2])
				checked++
				item, ok := doc.Paths[path]
				if !ok {
					t.Errorf("%s registers %s %s, which api/openapi.yaml does not describe", f, method, path)
					continue
				}
				if !methods(item)[method] {
					t.Errorf("api/openapi.yaml describes %s but not its %s (registered in %s)", path, method, f)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no routes in ../services/*/")
	}
}
