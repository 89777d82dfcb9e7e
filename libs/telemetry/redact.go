package telemetry

import (
	"context"
	"regexp"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// redactor rewrites the attributes that carry a request's URL before any
// exporter sees them: API paths hold phone numbers (/v1/contacts/+1415...)
// and the desktop's event stream carries its bearer token in the query.
type redactor struct{}

var (
	urlKeys     = map[attribute.Key]bool{"url.path": true, "url.query": true, "url.full": true, "http.target": true, "http.url": true}
	longNumber  = regexp.MustCompile(`(\+|%2[bB])?[0-9]{6,}`)
	tokenParams = regexp.MustCompile(`(access_token=)[^&]*`)
)

// Redact masks phone numbers and tokens in a URL or path.
func Redact(s string) string {
	s = tokenParams.ReplaceAllString(s, "${1}REDACTED")
	return longNumber.ReplaceAllStringFunc(s, MaskPhone)
}

func (redactor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	for _, kv := range s.Attributes() {
		if urlKeys[kv.Key] && kv.Value.Type() == attribute.STRING {
			if red := Redact(kv.Value.AsString()); red != kv.Value.AsString() {
				s.SetAttributes(attribute.String(string(kv.Key), red))
			}
		}
	}
}

func (redactor) OnEnd(sdktrace.ReadOnlySpan)      {}
func (redactor) Shutdown(context.Context) error   { return nil }
func (redactor) ForceFlush(context.Context) error { return nil }
