package sip

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+14155550123": "+14*******23",
		"4155550123":   "41******23",
		"+123":         "****",
	} {
		if got := maskNumber(in); got != want {
			t.Errorf("maskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLibHandlerMasksNumbers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLibHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.Info("chatter about +14155550123")
	log.With("to", "<sip:+14155550123@trunk>").Warn("failed for sip:+14155550123@trunk",
		"data", "INVITE sip:+14155550123@trunk SIP/2.0",
		"error", errors.New("resp=SIP/2.0 486 for +14155550123"),
		slog.Group("g", "from", "4155550123"),
		"code", 486)
	out := buf.String()
	if strings.Contains(out, "chatter") {
		t.Error("Info from a library passed")
	}
	if strings.Contains(out, "55501") {
		t.Errorf("number leaked: %s", out)
	}
	if strings.Contains(out, "data=") {
		t.Errorf("raw message attribute kept: %s", out)
	}
	for _, want := range []string{"+14*******23", "code=486", "g.from="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}
