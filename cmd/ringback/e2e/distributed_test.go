package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/siptest"
)

// owner says which service answers a request: the same path families the
// Ingress in deploy/k8s/base routes.
func owner(method, path string) string {
	switch {
	case strings.HasPrefix(path, "/v1/callbacks"):
		return "intake"
	case strings.HasPrefix(path, "/v1/queues"):
		return "router"
	case strings.HasPrefix(path, "/v1/dispositions"), strings.HasSuffix(path, "/disposition"):
		return "disposition"
	case strings.HasPrefix(path, "/v1/contacts/"), strings.HasSuffix(path, "/events") && strings.HasPrefix(path, "/v1/interactions/"),
		strings.HasSuffix(path, "/notes"), strings.HasSuffix(path, "/case-data"):
		return "history"
	}
	return "agent-session"
}

var services = []string{"intake", "scheduler", "router", "agent-session", "media-gateway", "history", "disposition"}

// TestThinPathSevenProcessesOverKafka runs each service in its own process
// with its own embedded store (the one-machine trial that
// --allow-embedded-with-kafka accepts), joined only by Kafka (a kfake broker
// over TCP), and reads the interaction's events with kcat as analytics would.
func TestThinPathSevenProcessesOverKafka(t *testing.T) {
	siptest.Sipp(t)
	brokers := strings.Join(kafkatest.StartBroker(t), ",")
	phone := siptest.StartUAS(t, siptest.Answer)
	dirs := map[string]string{}
	procs := map[string]*proc{}
	startService := func(t *testing.T, name string, extra ...string) {
		if dirs[name] == "" {
			dirs[name] = t.TempDir()
		}
		args := append([]string{"--target", name, "--bus", "kafka", "--kafka-brokers", brokers, "--data", dirs[name], "--allow-embedded-with-kafka"}, extra...)
		procs[name] = start(t, name, args...)
	}
	for _, s := range services {
		if s != "media-gateway" {
			startService(t, s)
		}
	}
	a := api{t: t, route: func(method, path string) string { return procs[owner(method, path)].URL }}
	for i, o := range outcomes {
		t.Run(o.name, func(t *testing.T) {
			contact := siptest.StartUAS(t, o.contact)
			// Each outcome has its own trunk: the gateway restarts on its
			// store with the new one, the other six stay up.
			startService(t, "media-gateway", "--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr, "--media.contact-ring-timeout", "1s", "--media.trunk-keepalive", "0")
			walk(t, a, fmt.Sprintf("agent%d", i+1), phone, contact, o)
			procs["media-gateway"].stop(t)
		})
	}
	if t.Failed() {
		return
	}
	t.Run("kcat reads the interaction events", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat not installed: apt-get install kcat")
		}
		out, err := exec.Command(kcat, "-b", brokers, "-C", "-t", "ringback.media", "-o", "beginning", "-e", "-q",
			"-f", "%k %h\n").CombinedOutput()
		if err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
		// Every call attempt's events: keyed by their stream, with the
		// CloudEvents type and the trace context as headers.
		for _, want := range []string{"ce_type=ringback.media.v1.DialStarted", "ce_type=ringback.media.v1.CallConnected",
			"ce_type=ringback.media.v1.DialFailed", "ce_type=ringback.media.v1.CallEnded", "traceparent="} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kcat output lacks %s:\n%s", want, out)
			}
		}
		if !regexp.MustCompile(`(?m)^media-call-[0-9a-f-]{36} `).Match(out) {
			t.Errorf("messages are not keyed by stream:\n%s", out)
		}
	})
}
