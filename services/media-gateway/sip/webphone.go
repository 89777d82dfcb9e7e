package sip

import (
	"net"
	"strconv"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// WebPhonePrefix starts the agent URI of an agent whose phone is their
// browser: webrtc:<agent> is rung at the browsers' phones (Config.WebPhones),
// a SIP user agent that answers once the browser posts its WebRTC offer.
const WebPhonePrefix = telephony.WebPhonePrefix

// ReasonNoWebPhones is why an agent on a browser is not rung by a gateway
// that has no browsers' phones.
const ReasonNoWebPhones = "browser phones are off on this gateway"

func (g *Gateway) webPhoneURI(user string) (string, *OutcomeError) {
	if g.cfg.WebPhones == "" {
		return "", &OutcomeError{Outcome: OutcomeAgentUnavailable, Reason: ReasonNoWebPhones}
	}
	if user == "" || !isToken(user) {
		return "", &OutcomeError{Outcome: OutcomeAgentUnavailable, Reason: ReasonPhoneRefused + ": not an agent id"}
	}
	return "sip:" + user + "@" + g.cfg.WebPhones, nil
}

// isWebPhones says whether u is at the browsers' phones.
func (g *Gateway) isWebPhones(u sipgosip.Uri) bool {
	if g.cfg.WebPhones == "" {
		return false
	}
	host, port, err := net.SplitHostPort(g.cfg.WebPhones)
	if err != nil {
		return false
	}
	return u.Host == host && strconv.Itoa(u.Port) == port
}
