package telemetry

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestSpansNeverCarryPhoneNumbersOrTokens(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(redactor{}), sdktrace.WithSpanProcessor(rec))
	_, span := tp.Tracer("t").Start(context.Background(), "GET", trace.WithAttributes(
		attribute.String("url.path", "/v1/contacts/+14155550123/history"),
		attribute.String("url.query", "access_token=s3cret&x=1"),
		attribute.String("http.request.method", "GET")))
	span.End()
	for _, kv := range rec.Ended()[0].Attributes() {
		v := kv.Value.String()
		if strings.Contains(v, "14155550123") || strings.Contains(v, "s3cret") {
			t.Errorf("%s = %q leaks", kv.Key, v)
		}
	}
}
