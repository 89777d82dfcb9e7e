package webphone

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// BenchmarkSRTPSealOpen is what DTLS-SRTP itself costs a browser leg per
// packet: one 20 ms Opus frame (60 bytes, 24 kb/s) sealed and opened with
// the AEAD_AES_128_GCM profile browsers negotiate. Set beside a leg's whole
// cost in issue 15's bench, it says how much of that cost is the WebRTC
// stack's plumbing rather than its cryptography.
func BenchmarkSRTPSealOpen(b *testing.B) {
	key, salt := make([]byte, 16), make([]byte, 12)
	seal, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	open, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: 1}, Payload: make([]byte, 60)}
	raw, sealed, plain := make([]byte, 1500), make([]byte, 0, 1500), make([]byte, 0, 1500)
	for i := 0; b.Loop(); i++ {
		p.SequenceNumber, p.Timestamp = uint16(i), uint32(i*960)
		n, err := p.MarshalTo(raw)
		if err != nil {
			b.Fatal(err)
		}
		if sealed, err = seal.EncryptRTP(sealed[:0], raw[:n], nil); err != nil {
			b.Fatal(err)
		}
		if plain, err = open.DecryptRTP(plain[:0], sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}
