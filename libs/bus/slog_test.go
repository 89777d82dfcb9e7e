package bus_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/ringback/ringback/libs/bus"
)

// Slog writes what its logger's level lets through, with the fields of
// With and of the message, and nothing below that level.
func TestSlogKeepsTheLoggersLevel(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug, watermill.LevelTrace} {
		var out bytes.Buffer
		l := bus.Slog(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))).
			With(watermill.LogFields{"handler": "h1"})
		l.Trace("trace line", watermill.LogFields{"k": "t"})
		l.Debug("debug line", watermill.LogFields{"k": "d"})
		l.Info("info line", watermill.LogFields{"k": "i"})
		l.Error("error line", errors.New("boom"), watermill.LogFields{"k": "e"})
		got := out.String()
		for _, want := range []struct {
			line  string
			level slog.Level
		}{{"trace line", watermill.LevelTrace}, {"debug line", slog.LevelDebug}, {"info line", slog.LevelInfo}, {"error line", slog.LevelError}} {
			if has := strings.Contains(got, want.line); has != (want.level >= level) {
				t.Errorf("at level %v: %q written %v, want %v:\n%s", level, want.line, has, want.level >= level, got)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
			if !strings.Contains(line, "handler=h1") {
				t.Errorf("at level %v: a line without With's field: %s", level, line)
			}
		}
		if !strings.Contains(got, "error=boom") || !strings.Contains(got, "k=i") {
			t.Errorf("at level %v: the message's fields are missing:\n%s", level, got)
		}
	}
}
