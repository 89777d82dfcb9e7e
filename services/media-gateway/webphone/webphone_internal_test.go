package webphone

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/emiago/diago/media"
)

// TestSIPCodec: the leg carries Opus when the gateway offers it, else
// PCMU (named or static payload type 0), else nothing.
func TestSIPCodec(t *testing.T) {
	for _, tc := range []struct {
		name, sdp string
		want      string
		ok        bool
	}{
		{"opus offered", "m=audio 4000 RTP/AVP 0 8 96\r\na=rtpmap:96 opus/48000/2\r\n", media.CodecAudioOpus.Name, true},
		{"pcmu named", "m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n", media.CodecAudioUlaw.Name, true},
		{"pcmu static", "m=audio 4000 RTP/AVP 8 0\r\n", media.CodecAudioUlaw.Name, true},
		{"pcma only", "m=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n", "", false},
	} {
		c, ok := sipCodec(tc.sdp)
		if ok != tc.ok || (ok && c.Name != tc.want) {
			t.Errorf("%s: sipCodec = %s, %v; want %s, %v", tc.name, c.Name, ok, tc.want, tc.ok)
		}
	}
}

// TestNoRing: an offer or a hang-up for a call that does not ring here.
func TestNoRing(t *testing.T) {
	p, err := New(Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if _, err := p.Offer(context.Background(), "a1", "c1", "v=0\r\n"); !errors.Is(err, ErrNoRing) {
		t.Errorf("Offer = %v, want ErrNoRing", err)
	}
	if err := p.Hangup("a1", "c1"); !errors.Is(err, ErrNoRing) {
		t.Errorf("Hangup = %v, want ErrNoRing", err)
	}
	if ids := p.Ringing("a1"); len(ids) != 0 {
		t.Errorf("Ringing = %v", ids)
	}
}
