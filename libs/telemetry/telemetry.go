// Package telemetry sets up what every process shares for observability:
// OpenTelemetry tracing (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set), JSON
// logs with log/slog, a Prometheus registry, and masking of personal data.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is one process's tracer, logger and metrics registry.
type Telemetry struct {
	Tracer   trace.TracerProvider
	Log      *slog.Logger
	Registry *prometheus.Registry
	shutdown func(context.Context) error
}

// Config says where telemetry goes.
type Config struct {
	Service      string // service.name of traces: "ringback" or the target list
	OTLPEndpoint string // OTEL_EXPORTER_OTLP_ENDPOINT; empty: spans are made but not exported
	LogLevel     slog.Level
	LogOutput    io.Writer
}

// New builds the process's telemetry and installs the tracer provider and
// the W3C propagator globally, since libraries (the bus, the SIP adapter) look there.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	res := resource.NewSchemaless(semconv.ServiceName(cfg.Service))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if cfg.OTLPEndpoint != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		// The redactor runs first, so no exporter ever sees a phone number.
		opts = append(opts, sdktrace.WithSpanProcessor(redactor{}), sdktrace.WithBatcher(exp))
	}
	// Without an exporter, spans still carry their ids (into logs and,
	// through the events, to the next process), but they are not sampled:
	// neither recorded (attributes, events) nor copied as they end, for no
	// one to read (issue 13's cost: a recording span per request, event
	// and SIP leg was 5 % of the platform's CPU). A parent that was sampled
	// elsewhere is followed, so a trace begun by an exporting process is
	// whole; one begun here without an exporter is sampled nowhere, which
	// is why every process is given the same OTLP setting.
	if cfg.OTLPEndpoint == "" {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	log := slog.New(slog.NewJSONHandler(cfg.LogOutput, &slog.HandlerOptions{Level: cfg.LogLevel}))
	return &Telemetry{Tracer: tp, Log: log, Registry: reg, shutdown: tp.Shutdown}, nil
}

// Shutdown flushes spans.
func (t *Telemetry) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }
