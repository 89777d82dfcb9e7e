package telemetry

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// routes answer as the platform's handlers do: a route that streams (an
// event stream asserts http.Flusher), one that fails.
func routes(t *testing.T, seen *trace.SpanContext) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/contacts/{number}/notes", func(w http.ResponseWriter, r *http.Request) {
		*seen = trace.SpanContextFromContext(r.Context())
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("the handler's writer is not an http.Flusher")
			return
		}
		w.WriteHeader(http.StatusCreated)
		f.Flush()
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	return mux
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("traceparent", parent)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHTTPServerSpanContinuesTheCallersTrace(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	var seen trace.SpanContext
	h := HTTPServer(routes(t, &seen), tp)

	if rec := serve(h, "POST", "/v1/contacts/+14155550123/notes?access_token=s3cret"); rec.Code != http.StatusCreated {
		t.Fatalf("status %d", rec.Code)
	}
	serve(h, "GET", "/boom")
	ended := spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want 2", len(ended))
	}
	s := ended[0]
	if s.Name() != "HTTP POST" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v, want HTTP POST, server", s.Name(), s.SpanKind())
	}
	if s.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("parent %v: not the caller's traceparent", s.Parent())
	}
	if seen.SpanID() != s.SpanContext().SpanID() {
		t.Errorf("the handler's context holds span %v, not the server span %v", seen.SpanID(), s.SpanContext().SpanID())
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		attrs[kv.Key] = kv.Value
		if v := kv.Value.String(); strings.Contains(v, "14155550123") || strings.Contains(v, "s3cret") {
			t.Errorf("%s = %q leaks a number or a token", kv.Key, v)
		}
	}
	for k, want := range map[attribute.Key]string{"http.request.method": "POST", "http.route": "POST /v1/contacts/{number}/notes",
		"http.response.status_code": "201", "url.scheme": "http", "server.address": "example.com"} {
		if got := attrs[k].String(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(attrs["url.path"].String(), "/v1/contacts/") {
		t.Errorf("url.path = %q", attrs["url.path"].String())
	}
	if s.Status().Code != codes.Unset {
		t.Errorf("201: span status %v", s.Status())
	}
	if b := ended[1]; b.Status().Code != codes.Error {
		t.Errorf("500: span status %v, want an error", b.Status())
	}
}

// Without an exporter spans are not recorded (telemetry.New), but the
// request's context still carries the trace, for the events it causes.
func TestHTTPServerUnrecordedSpanStillCarriesTheTrace(t *testing.T) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample(), sdktrace.WithRemoteParentSampled(sdktrace.NeverSample()))))
	var seen trace.SpanContext
	h := HTTPServer(routes(t, &seen), tp)
	if rec := serve(h, "POST", "/v1/contacts/+14155550123/notes"); rec.Code != http.StatusCreated {
		t.Fatalf("status %d", rec.Code)
	}
	if seen.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || !seen.IsValid() {
		t.Errorf("the handler's context holds %v, not the caller's trace", seen)
	}
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("%d spans recorded, want none", n)
	}
}
