package webphone

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/diago/media"
	"github.com/pion/sdp/v3"
)

// offered is what the gateway needs of a browser's SDP offer: its audio
// m-section's ICE credentials, DTLS certificate fingerprint and role, and
// the payload type it gave the leg's codec.
type offered struct {
	desc      *sdp.SessionDescription
	audio     int // index of the m-section answered; the others are refused
	mid       string
	ufrag     string
	pwd       string
	sha256    [sha256.Size]byte // the browser's certificate's
	dtlsAsked string            // a=setup: actpass, active or passive
	pt        uint8
	direction string // the offer's: sendrecv, sendonly, recvonly or inactive
	bundle    bool
}

// parseOffer reads a browser's offer for the leg's codec. Its errors say
// what is wrong with the offer, for the desktop's developer.
func parseOffer(raw string, codec media.Codec) (*offered, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	o := &offered{desc: &d, audio: -1}
	for _, a := range d.Attributes {
		if a.Key == "group" && strings.HasPrefix(a.Value, "BUNDLE") {
			o.bundle = true
		}
	}
	for i, m := range d.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			o.audio = i
			break
		}
	}
	if o.audio < 0 {
		return nil, fmt.Errorf("%w: no audio to answer", ErrBadOffer)
	}
	m := d.MediaDescriptions[o.audio]
	if !strings.Contains(strings.Join(m.MediaName.Protos, "/"), "SAVP") {
		return nil, fmt.Errorf("%w: audio is not DTLS-SRTP (%s)", ErrBadOffer, strings.Join(m.MediaName.Protos, "/"))
	}
	// Media-level attributes win over the session's (RFC 8839 5.4, RFC 8122 5).
	attr := func(key string) string {
		if v, ok := m.Attribute(key); ok {
			return v
		}
		v, _ := d.Attribute(key)
		return v
	}
	o.mid = attr("mid")
	o.ufrag, o.pwd = attr("ice-ufrag"), attr("ice-pwd")
	if o.ufrag == "" || o.pwd == "" {
		return nil, fmt.Errorf("%w: no ice-ufrag and ice-pwd", ErrBadOffer)
	}
	fp, err := fingerprint(attr("fingerprint"))
	if err != nil {
		return nil, err
	}
	o.sha256 = fp
	o.dtlsAsked = attr("setup")
	if o.dtlsAsked == "" {
		o.dtlsAsked = "actpass"
	}
	o.direction = "sendrecv"
	for _, dir := range []string{"sendonly", "recvonly", "inactive"} {
		if _, ok := m.Attribute(dir); ok {
			o.direction = dir
		}
	}
	pt, ok := payloadTypeOf(m, codec)
	if !ok {
		return nil, fmt.Errorf("%w: the call's audio is %s, which the offer does not have", ErrBadOffer, codec.Name)
	}
	o.pt = pt
	return o, nil
}

// fingerprint reads "sha-256 AB:CD:…"; browsers send SHA-256 (RFC 8827 6.5).
func fingerprint(v string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	alg, hexed, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(alg, "sha-256") {
		return out, fmt.Errorf("%w: no sha-256 fingerprint (%q)", ErrBadOffer, v)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hexed), ":", ""))
	if err != nil || len(b) != sha256.Size {
		return out, fmt.Errorf("%w: bad sha-256 fingerprint %q", ErrBadOffer, hexed)
	}
	copy(out[:], b)
	return out, nil
}

// payloadTypeOf is the payload type the m-section gives codec: Opus by
// its rtpmap, PCMU by its rtpmap or as static type 0.
func payloadTypeOf(m *sdp.MediaDescription, codec media.Codec) (uint8, bool) {
	want := "opus/48000"
	if codec.Name != media.CodecAudioOpus.Name {
		want = "pcmu/8000"
	}
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, _ := strings.Cut(a.Value, " ")
		if strings.HasPrefix(strings.ToLower(enc), want) {
			if n, err := strconv.ParseUint(pt, 10, 7); err == nil {
				return uint8(n), true
			}
		}
	}
	if want == "pcmu/8000" {
		for _, f := range m.MediaName.Formats {
			if f == "0" {
				return 0, true
			}
		}
	}
	return 0, false
}

// local is what the gateway's side of a browser leg announces.
type local struct {
	ufrag, pwd  string
	fingerprint string // "sha-256 AB:…"
	dtlsClient  bool
	ssrc        uint32
	candidates  []candidate
}

type candidate struct {
	ip   string
	port int
}

// answer is the gateway's SDP answer: ICE-lite (the gateway only answers
// the browser's checks, RFC 8445 2.5), rtcp-mux, the leg's codec alone,
// every other m-section refused.
func (o *offered) answer(l local, codec media.Codec, sessionID uint64) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	line("v=0")
	line("o=- %d 2 IN IP4 0.0.0.0", sessionID)
	line("s=-")
	line("t=0 0")
	if o.bundle && o.mid != "" {
		line("a=group:BUNDLE %s", o.mid)
	}
	line("a=ice-lite")
	line("a=msid-semantic: WMS ringback")
	for i, m := range o.desc.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		if i != o.audio {
			line("m=%s 0 %s %s", m.MediaName.Media, strings.Join(m.MediaName.Protos, "/"), strings.Join(m.MediaName.Formats, " "))
			line("c=IN IP4 0.0.0.0")
			if mid != "" {
				line("a=mid:%s", mid)
			}
			line("a=inactive")
			continue
		}
		first := candidate{ip: "0.0.0.0", port: 9}
		if len(l.candidates) > 0 {
			first = l.candidates[0]
		}
		line("m=audio %d UDP/TLS/RTP/SAVPF %d", first.port, o.pt)
		line("c=IN IP4 %s", first.ip)
		line("a=ice-ufrag:%s", l.ufrag)
		line("a=ice-pwd:%s", l.pwd)
		line("a=fingerprint:%s", l.fingerprint)
		if l.dtlsClient {
			line("a=setup:active")
		} else {
			line("a=setup:passive")
		}
		if mid != "" {
			line("a=mid:%s", mid)
		}
		line("a=%s", answerDirection(o.direction))
		line("a=rtcp-mux")
		if codec.Name == media.CodecAudioOpus.Name {
			line("a=rtpmap:%d opus/48000/2", o.pt)
			line("a=fmtp:%d %s", o.pt, opusFmtp)
		} else {
			line("a=rtpmap:%d PCMU/8000", o.pt)
		}
		line("a=ssrc:%d cname:ringback", l.ssrc)
		line("a=ssrc:%d msid:ringback audio", l.ssrc)
		line("a=msid:ringback audio")
		for k, c := range l.candidates {
			// Host candidates, the first preferred (RFC 8445 5.1.2.1).
			prio := 126<<24 | (65535-k)<<8 | 255
			line("a=candidate:%d 1 udp %d %s %d typ host", k+1, prio, c.ip, c.port)
		}
		line("a=end-of-candidates")
	}
	return b.String()
}

// answerDirection mirrors the offer's (RFC 3264 6.1).
func answerDirection(offer string) string {
	switch offer {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	}
	return offer
}

// opusFmtp: the gateway hears and speaks 8 kHz audio (its bridge is
// G.711's rate), so the answer says so (RFC 7587 6.1): a browser then
// encodes narrowband, which costs it less, takes less of the agent's
// uplink, and costs the gateway 30 % less to decode than the fullband
// frames it would otherwise send and the gateway would throw the top of
// away.
const opusFmtp = "minptime=10;useinbandfec=1;maxplaybackrate=8000;sprop-maxcapturerate=8000"
