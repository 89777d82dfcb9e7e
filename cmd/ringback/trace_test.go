package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace endpoint, as the collector of
// docker-compose.yml (deploy/otel/collector.yaml) runs one: it keeps the
// spans it is sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracev1.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	b, err := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// trace is the spans received of the trace that has a span named name.
func (o *otlpReceiver) trace(name string) []*tracev1.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var id []byte
	for _, s := range o.spans {
		if s.Name == name {
			id = s.TraceId
		}
	}
	var out []*tracev1.Span
	for _, s := range o.spans {
		if id != nil && string(s.TraceId) == string(id) {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceFromHTTPThroughEventsToSIP: with OTEL_EXPORTER_OTLP_ENDPOINT set
// (as docker-compose.yml sets it to its collector), the agent's Call click
// is one exported trace: the HTTP request's server span, the consumer span
// of the service that read its event from the bus, and the SIP call.
func TestTraceFromHTTPThroughEventsToSIP(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // export every 50ms, not 5s

	d, _, ix := connectedDemoCall(t)
	// The call's span ends with the call.
	if status, _ := d.call("POST", "/v1/interactions/"+ix+"/end-call", nil); status/100 != 2 {
		t.Fatalf("end call: %d", status)
	}

	var spans []*tracev1.Span
	has := func(ok func(*tracev1.Span) bool) bool {
		for _, s := range spans {
			if ok(s) {
				return true
			}
		}
		return false
	}
	// The root: the agent's POST .../call (span names carry the method
	// only, since paths hold phone numbers).
	server := func(s *tracev1.Span) bool {
		return s.Kind == tracev1.Span_SPAN_KIND_SERVER && s.Name == "HTTP POST" && len(s.ParentSpanId) == 0
	}
	consumer := func(s *tracev1.Span) bool { return s.Kind == tracev1.Span_SPAN_KIND_CONSUMER }
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		spans = recv.trace("sip call")
		if has(server) && has(consumer) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Kind.String()+" "+s.Name)
			}
			t.Logf("the Call click's trace: %v", names)
			break
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Kind.String()+" "+s.Name)
			}
			t.Fatalf("the SIP call's trace has no server span of the Call request and a consumer span; it has %v", names)
		}
	}
}
