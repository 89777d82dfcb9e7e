package deploy

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
)

// collectorConfig is the part of an OpenTelemetry Collector configuration
// the checks read.
type collectorConfig struct {
	Receivers map[string]struct {
		Protocols map[string]struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"protocols"`
	} `yaml:"receivers"`
	Processors map[string]any `yaml:"processors"`
	Exporters  map[string]any `yaml:"exporters"`
	Extensions map[string]any `yaml:"extensions"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

// composeDefault is what compose makes of ${NAME-default} or ${NAME:-default}
// with NAME unset: the default; any other value as it stands.
var composeDefault = regexp.MustCompile(`^\$\{[A-Z_]+:?-(.*)\}$`)

// TestComposeSendsTracesToTheCollector: the compose file runs the collector
// in every profile with the configuration under deploy/otel/ mounted where
// the image reads it; that configuration is whole (every pipeline's parts
// defined) and takes OTLP/HTTP traces on the port every ringback service
// exports to, by the collector's compose name, and prints them.
func TestComposeSendsTracesToTheCollector(t *testing.T) {
	f := readCompose(t)
	const name = "otel-collector"
	c, ok := f.Services[name]
	if !ok {
		t.Fatalf("compose: no %s service", name)
	}
	if !strings.HasPrefix(c.Image, "otel/opentelemetry-collector-contrib:") || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("compose %s: image %q, want a pinned otel/opentelemetry-collector-contrib", name, c.Image)
	}
	var cfgPath string
	for _, a := range c.Command {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = v
		}
	}
	var mounted string
	for _, v := range c.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == cfgPath {
			mounted = parts[0]
		}
	}
	if cfgPath == "" || mounted == "" {
		t.Fatalf("compose %s: --config=%q is not a mounted file (volumes %v)", name, cfgPath, c.Volumes)
	}
	b, err := os.ReadFile(filepath.Join("..", mounted))
	if err != nil {
		t.Fatalf("compose %s mounts %s: %v", name, mounted, err)
	}
	var cfg collectorConfig
	dec := yamlv3.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", mounted, err)
	}

	traces, ok := cfg.Service.Pipelines["traces"]
	if !ok || !slices.Contains(traces.Receivers, "otlp") || !slices.Contains(traces.Exporters, "debug") {
		t.Errorf("%s: want a traces pipeline from the otlp receiver to the debug exporter, got %+v", mounted, traces)
	}
	for pname, p := range cfg.Service.Pipelines {
		for _, r := range p.Receivers {
			if _, ok := cfg.Receivers[r]; !ok {
				t.Errorf("%s: pipeline %s names receiver %s, not defined", mounted, pname, r)
			}
		}
		for _, pr := range p.Processors {
			if _, ok := cfg.Processors[pr]; !ok {
				t.Errorf("%s: pipeline %s names processor %s, not defined", mounted, pname, pr)
			}
		}
		for _, e := range p.Exporters {
			if _, ok := cfg.Exporters[e]; !ok {
				t.Errorf("%s: pipeline %s names exporter %s, not defined", mounted, pname, e)
			}
		}
	}
	for _, e := range cfg.Service.Extensions {
		if _, ok := cfg.Extensions[e]; !ok {
			t.Errorf("%s: extension %s not defined", mounted, e)
		}
	}
	httpEndpoint := cfg.Receivers["otlp"].Protocols["http"].Endpoint
	_, httpPort, _ := strings.Cut(httpEndpoint, ":")
	if httpPort == "" {
		t.Fatalf("%s: the otlp receiver takes no OTLP/HTTP (endpoint %q): the services export over HTTP (otlptracehttp)", mounted, httpEndpoint)
	}

	if !slices.ContainsFunc(c.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+httpPort) }) {
		t.Errorf("compose %s: OTLP/HTTP port %s not published for exporters on the host", name, httpPort)
	}
	exporting := 0
	for sname, s := range f.Services {
		if !strings.HasPrefix(s.Image, "ringback") {
			continue
		}
		exporting++
		for _, p := range s.Profiles {
			if !slices.Contains(c.Profiles, p) {
				t.Errorf("compose %s runs in profile %s, the collector does not", sname, p)
			}
		}
		raw := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
		v := raw
		if m := composeDefault.FindStringSubmatch(raw); m != nil {
			v = m[1]
		}
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "http" || u.Hostname() != name || u.Port() != httpPort {
			t.Errorf("compose %s: OTEL_EXPORTER_OTLP_ENDPOINT %q, want http://%s:%s by default", sname, raw, name, httpPort)
		}
	}
	if exporting == 0 {
		t.Error("compose: no ringback service found")
	}
}
