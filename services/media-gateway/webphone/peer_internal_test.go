package webphone

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago/media"
	"github.com/pion/ice/v4"
	"github.com/pion/stun/v3"
	"github.com/pion/webrtc/v4"
)

func newTestPhones(t *testing.T) *Phones {
	t.Helper()
	p, err := New(Config{Loopback: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	muxed := make(chan struct{})
	go func() {
		defer close(muxed)
		p.mux.run()
	}()
	t.Cleanup(func() {
		_ = p.Close()
		<-muxed
		if u, a := p.mux.size(); u != 0 || a != 0 {
			t.Errorf("the port still holds %d ufrags and %d addresses of closed connections", u, a)
		}
	})
	return p
}

// pionOffer is a pion peer's offer, as a browser's, on loopback.
func pionOffer(t *testing.T) (*webrtc.PeerConnection, string) {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc, pc.LocalDescription().SDP
}

// TestPeerKeysSRTPWithAFullAgent: a full ICE agent (pion's, as a
// browser's) checks and nominates the gateway's ICE-lite candidate, and
// the DTLS handshake pinned by the fingerprints keys SRTP.
func TestPeerKeysSRTPWithAFullAgent(t *testing.T) {
	p := newTestPhones(t)
	pc, offer := pionOffer(t)
	pr, answer, err := p.newPeer(offer, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pr.close(); pr.wait() }()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pr.keys.Load() == nil {
		select {
		case <-pr.failed:
			t.Fatalf("the connection failed: %v", pr.why)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("SRTP was not keyed within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("the browser's connection is %s", pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The browser closes: its close_notify fails the peer at once.
	_ = pc.Close()
	waitFailed(t, pr, "the peer did not see the browser close")
}

// waitFailed waits for the peer to fail, or fails the test with what.
func waitFailed(t *testing.T, pr *peer, what string) {
	t.Helper()
	select {
	case <-pr.failed:
		t.Logf("failed: %v", pr.why)
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// TestPeerRefusesAnotherCertificate: a browser whose DTLS certificate is
// not the one its offer named (a man in the middle of the media) is
// refused, and no SRTP key is ever made.
func TestPeerRefusesAnotherCertificate(t *testing.T) {
	p := newTestPhones(t)
	pc, offer := pionOffer(t)
	i := strings.Index(offer, "a=fingerprint:sha-256 ") + len("a=fingerprint:sha-256 ")
	flipped := "00"
	if offer[i:i+2] == "00" {
		flipped = "11"
	}
	forged := offer[:i] + flipped + offer[i+2:]
	pr, answer, err := p.newPeer(forged, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pr.close(); pr.wait() }()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitFailed(t, pr, "the handshake with another certificate did not fail")
	if pr.keys.Load() != nil {
		t.Error("SRTP was keyed with a certificate the offer did not name")
	}
}

// TestPeerWithoutConsentFails: a browser that never checks (or stops) is
// gone once consent lapses.
func TestPeerWithoutConsentFails(t *testing.T) {
	p := newTestPhones(t)
	p.consent = 300 * time.Millisecond
	_, offer := pionOffer(t) // offered, never told the answer
	pr, _, err := p.newPeer(offer, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pr.close(); pr.wait() }()
	waitFailed(t, pr, "a browser that never checked kept its connection")
}

// TestChecks: the gateway answers a check under its own ufrag and
// password, with the address it came from, and ignores any other.
func TestChecks(t *testing.T) {
	p := newTestPhones(t)
	_, offer := pionOffer(t)
	pr, _, err := p.newPeer(offer, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pr.close(); pr.wait() }()
	o, err := parseOffer(offer, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	browser, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer browser.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p.MediaPort()))
	check := func(user, pwd string, wait time.Duration) *stun.Message {
		t.Helper()
		req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(user),
			ice.AttrControlling(1), ice.PriorityAttr(1), ice.UseCandidate(), stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := browser.WriteToUDPAddrPort(req.Raw, to); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		_ = browser.SetReadDeadline(time.Now().Add(wait))
		n, err := browser.Read(buf)
		if err != nil {
			return nil
		}
		res := &stun.Message{Raw: buf[:n]}
		if err := res.Decode(); err != nil {
			t.Fatalf("the reply is not STUN: %v", err)
		}
		return res
	}
	if res := check(pr.local.ufrag+":"+o.ufrag, "wrong password wrong pass", 300*time.Millisecond); res != nil {
		t.Errorf("a check failing integrity was answered: %s", res)
	}
	if res := check("someone:else", pr.local.pwd, 300*time.Millisecond); res != nil {
		t.Errorf("a check for another ufrag was answered: %s", res)
	}
	res := check(pr.local.ufrag+":"+o.ufrag, pr.local.pwd, 5*time.Second)
	if res == nil || res.Type != stun.BindingSuccess {
		t.Fatalf("the browser's check was not answered: %v", res)
	}
	if err := stun.NewShortTermIntegrity(pr.local.pwd).Check(res); err != nil {
		t.Errorf("the answer's integrity: %v", err)
	}
	var mapped stun.XORMappedAddress
	if err := mapped.GetFrom(res); err != nil || mapped.Port != browser.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("XOR-MAPPED-ADDRESS %v (%v), want the browser's port %d", mapped, err, browser.LocalAddr().(*net.UDPAddr).Port)
	}
	if a := pr.remote.Load(); a == nil || int(a.Port()) != browser.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("the nominated address is %v", a)
	}
}
