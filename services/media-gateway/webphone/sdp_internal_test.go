package webphone

import (
	"errors"
	"strings"
	"testing"

	"github.com/emiago/diago/media"
)

// chromeOffer is the shape of Chrome's offer from the agent's desktop:
// BUNDLE, audio with Opus and the G.711s, a data channel beside it.
const chromeOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Xy7q\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 49:66:12:17:0D:1C:91:AE:57:4C:C6:36:DD:D5:97:D2:7D:62:C9:9A:7F:B9:A3:F4:70:03:E7:43:91:73:23:5E\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=msid:- 2b2c\r\na=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:63 red/48000/2\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n" +
	"a=ssrc:1 cname:abc\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Xy7q\r\n" +
	"a=ice-pwd:0123456789abcdefghijklmn\r\na=setup:actpass\r\na=mid:1\r\na=sctp-port:5000\r\n"

// TestParseOffer: what the answer needs is read from the audio section;
// an offer the gateway cannot answer says why.
func TestParseOffer(t *testing.T) {
	o, err := parseOffer(chromeOffer, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	if o.audio != 0 || o.mid != "0" || o.ufrag != "Xy7q" || o.pwd != "0123456789abcdefghijklmn" ||
		o.dtlsAsked != "actpass" || o.pt != 111 || o.direction != "sendrecv" || !o.bundle || o.sha256[0] != 0x49 {
		t.Errorf("parsed %+v", o)
	}
	if o, err := parseOffer(chromeOffer, media.CodecAudioUlaw); err != nil || o.pt != 0 {
		t.Errorf("PCMU: %v, %+v", err, o)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"no audio", "m=audio 9", "m=video 9"},
		{"audio refused", "m=audio 9", "m=audio 0"},
		{"not DTLS-SRTP", "UDP/TLS/RTP/SAVPF 111", "RTP/AVP 111"},
		{"no ICE credentials", "a=ice-pwd:0123456789abcdefghijklmn\r\na=ice-options", "a=ice-options"},
		{"no fingerprint", "a=fingerprint:sha-256", "a=x-fingerprint:sha-256"},
		{"SHA-1 fingerprint", "a=fingerprint:sha-256", "a=fingerprint:sha-1"},
		{"short fingerprint", "23:5E\r\n", "23\r\n"},
		{"no Opus", "a=rtpmap:111 opus/48000/2", "a=rtpmap:111 foo/48000/2"},
		{"not SDP", "v=0", "x"},
	} {
		bad := strings.Replace(chromeOffer, tc.from, tc.to, 1)
		if bad == chromeOffer {
			t.Fatalf("%s: the offer has no %q", tc.name, tc.from)
		}
		if _, err := parseOffer(bad, media.CodecAudioOpus); !errors.Is(err, ErrBadOffer) {
			t.Errorf("%s: %v, want ErrBadOffer", tc.name, err)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// TestAnswer: ICE-lite, our credentials and certificate, the role the
// offer left us, the leg's codec alone, every other section refused and
// out of BUNDLE, and a candidate per address.
func TestAnswer(t *testing.T) {
	o, err := parseOffer(chromeOffer, media.CodecAudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	l := local{ufrag: "ufra", pwd: "pwdpwdpwdpwdpwdpwdpwdpwd", fingerprint: "sha-256 AA:BB", ssrc: 42,
		candidates: []candidate{{"192.0.2.7", 40000}, {"127.0.0.1", 40000}}}
	a := o.answer(l, media.CodecAudioOpus, 7)
	for _, want := range []string{
		"a=group:BUNDLE 0\r\n", "a=ice-lite\r\n", "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n", "c=IN IP4 192.0.2.7\r\n",
		"a=ice-ufrag:ufra\r\n", "a=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd\r\n", "a=fingerprint:sha-256 AA:BB\r\n",
		"a=setup:passive\r\n", "a=mid:0\r\n", "a=sendrecv\r\n", "a=rtcp-mux\r\n",
		"a=rtpmap:111 opus/48000/2\r\n", "a=fmtp:111 " + opusFmtp + "\r\n", "a=ssrc:42 cname:ringback\r\n",
		"a=candidate:1 1 udp 2130706431 192.0.2.7 40000 typ host\r\n",
		"a=candidate:2 1 udp 2130706175 127.0.0.1 40000 typ host\r\n",
		"m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n", "a=mid:1\r\na=inactive\r\n",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("the answer lacks %q:\n%s", want, a)
		}
	}
	// A browser that insists on being the DTLS server, and a send-only one.
	o, err = parseOffer(strings.NewReplacer("a=setup:actpass", "a=setup:passive", "a=sendrecv", "a=sendonly").Replace(chromeOffer),
		media.CodecAudioUlaw)
	if err != nil {
		t.Fatal(err)
	}
	l.dtlsClient = o.dtlsAsked == "passive"
	a = o.answer(l, media.CodecAudioUlaw, 7)
	for _, want := range []string{"a=setup:active\r\n", "a=recvonly\r\n", "m=audio 40000 UDP/TLS/RTP/SAVPF 0\r\n", "a=rtpmap:0 PCMU/8000\r\n"} {
		if !strings.Contains(a, want) {
			t.Errorf("the answer lacks %q:\n%s", want, a)
		}
	}
}
