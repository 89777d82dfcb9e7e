package sip

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
)

// Phone numbers never appear unmasked in logs, traces or metrics (DESIGN.md
// section 2). Our own log lines only carry masked numbers; the SIP libraries
// log whole messages and headers, so their records go through libHandler.

// digitRun is anything that may be a phone number: 7 or more digits, with an
// optional leading +. It also catches Call-IDs or timestamps, which is the
// price of never leaking a number from a library's free-text message.
var digitRun = regexp.MustCompile(`\+?[0-9]{7,}`)

// maskNumber keeps the country-code end and the last two digits, enough to
// tell calls apart in a log: +14155550123 -> +14*******23.
func maskNumber(s string) string {
	if len(s) <= 5 {
		return strings.Repeat("*", len(s))
	}
	keep := 3
	if !strings.HasPrefix(s, "+") {
		keep = 2
	}
	return s[:keep] + strings.Repeat("*", len(s)-keep-2) + s[len(s)-2:]
}

func maskDigits(s string) string {
	return digitRun.ReplaceAllStringFunc(s, maskNumber)
}

// libDropKeys are attributes the libraries use for raw packets and whole
// messages: dropped rather than masked, they are noise at Warn anyway.
var libDropKeys = map[string]bool{"data": true, "req": true, "res": true, "msg": true}

// libHandler passes the SIP libraries' records at Warn and above (their Info
// and Debug are per-packet chatter) to the gateway's handler, with every
// string masked by maskDigits.
type libHandler struct {
	next slog.Handler
}

func newLibHandler(next slog.Handler) *libHandler { return &libHandler{next: next} }

func (h *libHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.next.Enabled(ctx, l)
}

func (h *libHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, maskDigits(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a, ok := redact(a); ok {
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *libHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if a, ok := redact(a); ok {
			kept = append(kept, a)
		}
	}
	return &libHandler{next: h.next.WithAttrs(kept)}
}

func (h *libHandler) WithGroup(name string) slog.Handler {
	return &libHandler{next: h.next.WithGroup(name)}
}

// redact masks one attribute, recursing into groups; ok is false for an
// attribute to drop.
func redact(a slog.Attr) (slog.Attr, bool) {
	if libDropKeys[a.Key] {
		return a, false
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		var kept []any
		for _, g := range v.Group() {
			if g, ok := redact(g); ok {
				kept = append(kept, g)
			}
		}
		return slog.Group(a.Key, kept...), true
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
		return a, true
	default: // strings, errors, Stringers, anything else: as masked text
		return slog.String(a.Key, maskDigits(v.String())), true
	}
}
