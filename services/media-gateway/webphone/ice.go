package webphone

import (
	"crypto/rand"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// The gateway is an ICE-lite agent (RFC 8445 2.5): it has a public (or,
// with ICEAddresses, a 1:1 NAT's) address, gathers host candidates only,
// and answers the browser's connectivity checks, which the browser, as
// the controlling full agent, sends, nominates and repeats for consent
// (RFC 7675). A server that does no checks of its own needs no ICE state
// machine, timers or goroutines: one reply per request, on the port's
// reader.

// checked answers a binding request from the browser (decoded, with its
// USERNAME) and says whether it was the browser's: our ufrag and theirs,
// our password's integrity. Anything else is dropped without a reply, as a
// request failing integrity must be (RFC 8445 7.3). A valid check renews
// consent, may nominate the address it came from, and starts the DTLS
// association the first time.
func (pr *peer) checked(m *stun.Message, user stun.Username, from netip.AddrPort) bool {
	pr.rxMu.Lock()
	defer pr.rxMu.Unlock()
	if string(user) != pr.usernameWant || pr.integrity.Check(m) != nil || stun.Fingerprint.Check(m) != nil {
		return false
	}
	resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: net.IP(from.Addr().AsSlice()), Port: int(from.Port())},
		pr.integrity, stun.Fingerprint)
	if err != nil {
		return false
	}
	_, _ = pr.conn.WriteToUDPAddrPort(resp.Raw, from) // a lost reply is the browser's to retransmit
	pr.lastCheck.Store(time.Now().UnixNano())
	if m.Contains(stun.AttrUseCandidate) || pr.remote.Load() == nil {
		pr.remote.Store(&from)
	}
	if !pr.handshaken {
		pr.handshaken = true
		pr.wg.Add(1)
		go pr.handshake(pr.cert)
	}
	return true
}

// iceChars are those ICE allows in a ufrag or password (RFC 8839 5.4).
const iceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// iceString is n random ICE characters: a ufrag needs 24 bits of
// randomness, a password 128 (RFC 8445 5.3).
func iceString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand does not fail (Go 1.24)
	for i := range b {
		b[i] = iceChars[int(b[i])%len(iceChars)]
	}
	return string(b)
}

// Packets on an ICE socket are told apart by their first byte (RFC 7983).
const (
	kindNone = iota
	kindSTUN
	kindDTLS
	kindRTP // or RTCP
)

func packetKind(b []byte) int {
	if len(b) == 0 {
		return kindNone
	}
	switch c := b[0]; {
	case c <= 3:
		return kindSTUN
	case c >= 20 && c <= 63:
		return kindDTLS
	case c >= 128 && c <= 191:
		return kindRTP
	}
	return kindNone
}

// isRTCP tells RTCP from RTP on a muxed port (RFC 5761 4): RTCP's packet
// types 192-223 fall where RTP's marker bit and payload type are.
func isRTCP(b []byte) bool {
	return len(b) > 1 && b[1] >= 192 && b[1] <= 223
}
