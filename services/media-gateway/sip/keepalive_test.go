package sip_test

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/services/media-gateway/sip"
)

// optionsTrunk is a trunk that only answers OPTIONS (200), and only while
// answering is set: a Go UDP socket, so that it can go silent and come back.
type optionsTrunk struct {
	Addr      string
	answering atomic.Bool
	mu        sync.Mutex
	probes    []string // request lines of the OPTIONS received
	answered  int
}

func startOptionsTrunk(t *testing.T) *optionsTrunk {
	t.Helper()
	conn := udpClient(t)
	tr := &optionsTrunk{Addr: conn.LocalAddr().String()}
	tr.answering.Store(true)
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req := string(buf[:n])
			line, _, _ := strings.Cut(req, "\r\n")
			if !strings.HasPrefix(line, "OPTIONS ") {
				continue
			}
			tr.mu.Lock()
			tr.probes = append(tr.probes, line)
			answer := tr.answering.Load()
			if answer {
				tr.answered++
			}
			tr.mu.Unlock()
			if answer {
				_, _ = conn.WriteTo([]byte(okResponse(req)), from)
			}
		}
	}()
	return tr
}

// okResponse is a 200 for req (RFC 3261 8.2.6.2: Via, From, To with a tag,
// Call-ID and CSeq copied).
func okResponse(req string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	head, _, _ := strings.Cut(req, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq":
			b.WriteString(line + "\r\n")
		case "to", "t":
			b.WriteString(line + ";tag=trunk\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func (tr *optionsTrunk) counts() (probes, answered int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.probes), tr.answered
}

func TestTrunkKeepAlive(t *testing.T) {
	t.Parallel()
	trunk := startOptionsTrunk(t)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) { c.KeepAlive = 200 * time.Millisecond })

	waitUntil(t, "two probes answered", func() bool { _, a := trunk.counts(); return a >= 2 })
	if !g.TrunkUp() {
		t.Error("TrunkUp false while the trunk answers")
	}
	trunk.mu.Lock()
	first := trunk.probes[0]
	trunk.mu.Unlock()
	if want := "OPTIONS sip:" + trunk.Addr + " SIP/2.0"; first != want {
		t.Errorf("probe %q, want %q", first, want)
	}

	trunk.answering.Store(false)
	probes, _ := trunk.counts()
	waitUntil(t, "TrunkUp false once the trunk is silent", func() bool { return !g.TrunkUp() })
	if now, _ := trunk.counts(); now-probes < 3 {
		t.Errorf("trunk down after %d unanswered probes, want 3", now-probes)
	}

	trunk.answering.Store(true)
	waitUntil(t, "TrunkUp true once the trunk answers again", g.TrunkUp)
}

func TestTrunkKeepAliveDisabled(t *testing.T) {
	t.Parallel()
	trunk := startOptionsTrunk(t)
	g := startGateway(t, trunk.Addr, nil) // KeepAlive zero
	time.Sleep(time.Second)
	if probes, _ := trunk.counts(); probes != 0 {
		t.Errorf("%d probes with keep-alive disabled", probes)
	}
	if !g.TrunkUp() {
		t.Error("TrunkUp false without probes")
	}
}
