package telemetry

import (
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// HTTPServer starts, or continues from the request's traceparent, the
// server span of every request h serves, named after the method only
// (paths hold phone numbers), and hands h the span's context, so that the
// events the request causes carry the trace on through the bus.
//
// It stands where otelhttp stood. otelhttp built its metric attributes,
// and a set of them, for every request, recorded into no meter (the
// platform's metrics are Prometheus'), and wrapped every response: about
// 4 % of the platform's CPU taking callbacks (issue 12). Here a span that
// is not recorded (no exporter: telemetry.New) costs its ids only, and
// the response is wrapped only for a span that is, to learn its status.
func HTTPServer(h http.Handler, tp trace.TracerProvider) http.Handler {
	tracer := tp.Tracer("github.com/ringback/ringback/libs/telemetry/http")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)
		if !span.IsRecording() {
			h.ServeHTTP(w, r)
			return
		}
		span.SetAttributes(requestAttributes(r)...)
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		if r.Pattern != "" { // the mux's route, set as it served r
			span.SetAttributes(semconv.HTTPRoute(r.Pattern))
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// requestAttributes are the semantic conventions' server attributes of r.
// url.path and url.query may hold phone numbers and tokens: masked here, as
// the redactor masks them in attributes given at a span's start (these
// come after it).
func requestAttributes(r *http.Request) []attribute.KeyValue {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLScheme(scheme),
		semconv.URLPath(Redact(r.URL.Path)),
		semconv.NetworkProtocolVersion(strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)),
	}
	if r.URL.RawQuery != "" {
		attrs = append(attrs, semconv.URLQuery(Redact(r.URL.RawQuery)))
	}
	if host, port, err := net.SplitHostPort(r.Host); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	} else if r.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(r.Host))
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, semconv.NetworkPeerAddress(host))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// statusWriter learns the status of a response. It flushes (the desktops'
// event streams assert http.Flusher) and unwraps, for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
