package mediagateway

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/media-gateway/telephony"
	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// The browser as the agent's phone (issue 15). An agent logged in with
// phone webrtc:<agent> is rung at this instance's browsers' phones
// (package webphone); the AgentRinging event says so, with this instance's
// signalling URL, and agent-session tells the agent's desktop, which posts
// its WebRTC offer here. The offer must reach the instance whose phones
// ring: only it holds the call's SIP dialogs. So each instance states its
// own URL (PhoneConfig.URL); with one instance, or a single node, the
// desktop's own origin serves.

// PhoneConfig is the browsers' phones' configuration.
type PhoneConfig struct {
	// Off: no browser is a phone; an agent logged in with one is not
	// available.
	Off bool
	// URL is where browsers reach this instance's signalling routes, e.g.
	// https://center.example/media/gw-1 (the ingress routing that path to
	// this instance); empty: the desktop's own origin.
	URL string
	// ICEAddresses: the addresses this host's candidates give (behind a
	// 1:1 NAT); empty: the host's interfaces.
	ICEAddresses string
	// Loopback adds loopback candidates: the browser on the gateway's host.
	Loopback bool
	// Port is the one UDP port of every browser's media; 0: any.
	Port uint
	// ReconnectGrace keeps a call answered in a browser up when the
	// browser's connection goes without a hang-up (a reload), for the
	// desktop to take it back; 0: the call ends with the connection.
	ReconnectGrace time.Duration
}

// RegisterFlags registers the browsers' phones' flags.
func (c *PhoneConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Off, "media.webrtc-off", false,
		"no browser is an agent's phone (phone_uri webrtc:); by default the gateway answers browsers over WebRTC (DTLS-SRTP, Opus)")
	fs.StringVar(&c.URL, "media.webrtc-url", "",
		"base URL where agents' browsers reach this gateway instance's WebRTC signalling, on the desktop's origin (one per instance with N instances, e.g. https://center.example/media/gw-1, which the ingress routes to it); empty: the desktop's own origin")
	fs.StringVar(&c.ICEAddresses, "media.webrtc-ice-addresses", "",
		"comma list of the addresses the gateway's ICE host candidates give (a 1:1 NAT's public address); empty: the host's interfaces")
	fs.DurationVar(&c.ReconnectGrace, "media.webrtc-reconnect-grace", 30*time.Second,
		"how long a call answered in a browser stays up when the browser's connection goes without hanging up (a reload, a network change), for the agent's desktop to take it back; 0: the call ends with the connection")
	fs.UintVar(&c.Port, "media.webrtc-port", 0,
		"the one UDP port of every browser's media (ICE, DTLS-SRTP), for a firewall to open; each instance on a host needs its own; 0: any free port")
	fs.BoolVar(&c.Loopback, "media.webrtc-loopback", false,
		"offer loopback ICE candidates too: browsers on the gateway's own host (development, tests)")
}

// WebPhoneConfig is the webphone configuration the binary builds the
// browsers' phones with; ringTimeout is the agent's ring timeout.
func (c PhoneConfig) WebPhoneConfig(ringTimeout time.Duration) webphone.Config {
	var ips []string
	for _, a := range strings.Split(c.ICEAddresses, ",") {
		if a = strings.TrimSpace(a); a != "" {
			ips = append(ips, a)
		}
	}
	// The gateway's ring timeout ends the ring (CANCEL); the phones' own is
	// a backstop.
	return webphone.Config{Listen: "127.0.0.1:0", RingTimeout: ringTimeout + 5*time.Second, ICEAddresses: ips, Loopback: c.Loopback,
		Port: uint16(c.Port), ReconnectGrace: max(c.ReconnectGrace, 0)}
}

// browserRing is what AgentRinging carries for a call whose agent's phone
// is their browser.
func (s *Service) browserRing(agentURI string) (browser bool, url string) {
	if !strings.HasPrefix(agentURI, telephony.WebPhonePrefix) {
		return false, ""
	}
	return true, s.cfg.Phone.URL
}

// phoneRoutes are the browsers' signalling routes: the agent (and only
// they) answers or declines a call ringing on their browser.
func (s *Service) phoneRoutes() []agentauth.Route {
	if s.deps.Phones == nil {
		return nil
	}
	return []agentauth.Route{
		{Pattern: "POST /v1/agents/{agent}/phone/calls/{call}", Roles: agentauth.RoleAgent, Entitle: ownAgent, Handle: s.answerInBrowser},
		{Pattern: "DELETE /v1/agents/{agent}/phone/calls/{call}", Roles: agentauth.RoleAgent, Entitle: ownAgent, Handle: s.hangupInBrowser},
	}
}

// Routes is the service's route table, for the binary's list of routes.
func (s *Service) Routes() []agentauth.Route { return s.phoneRoutes() }

// ownAgent: an agent answers only their own phone.
func ownAgent(r *http.Request, p agentauth.Principal) error {
	id := r.PathValue("agent")
	if !agentauth.ValidID(id) {
		return httpx.BadField("agent", "must be 1 to 64 letters, digits, dots, dashes or underscores")
	}
	if !p.IsAgent(id) {
		refused := httpx.Forbidden("an agent answers only their own phone")
		refused.Field = "agent"
		return refused
	}
	return nil
}

// maxSDP bounds an offer: a browser's is a few kilobytes.
const maxSDP = 64 << 10

func (s *Service) answerInBrowser(w http.ResponseWriter, r *http.Request) error {
	agent, call := r.PathValue("agent"), r.PathValue("call")
	var body struct {
		Type string `json:"type"`
		// Raw: SDP lines end in CRLF, which the platform's text check
		// refuses in any string; sdpText checks it instead.
		SDP json.RawMessage `json:"sdp"`
	}
	if err := httpx.DecodeJSONLimit(w, r, &body, maxSDP); err != nil {
		return err
	}
	if body.Type != "" && body.Type != "offer" {
		return httpx.BadField("type", `must be "offer"`)
	}
	sdp, err := sdpText(body.SDP)
	if err != nil {
		return err
	}
	// Answering waits for the gateway's leg: bounded, the browser retries.
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	answer, err := s.deps.Phones.Offer(ctx, agent, call, sdp)
	if err != nil {
		return s.phoneProblem(r.Context(), call, err)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"type": "answer", "sdp": answer})
	return nil
}

// sdpText is the offer's SDP: a JSON string of lines ending in CRLF (or
// LF), with no other control character.
func sdpText(raw json.RawMessage) (string, error) {
	var sdp string
	if err := json.Unmarshal(raw, &sdp); err != nil {
		return "", httpx.BadField("sdp", "must be a string: the browser's SDP offer")
	}
	if !strings.HasPrefix(sdp, "v=0") {
		return "", httpx.BadField("sdp", "must be the browser's SDP offer (v=0 ...)")
	}
	for _, c := range sdp {
		if c != '\r' && c != '\n' && (unicode.IsControl(c) || c == '\u2028' || c == '\u2029') {
			return "", httpx.BadField("sdp", "must hold no control characters but the line ends")
		}
	}
	return sdp, nil
}

func (s *Service) hangupInBrowser(w http.ResponseWriter, r *http.Request) error {
	agent, call := r.PathValue("agent"), r.PathValue("call")
	if err := s.deps.Phones.Hangup(agent, call); err != nil {
		return s.phoneProblem(r.Context(), call, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// phoneProblem is the answer to an offer or hang-up that failed.
func (s *Service) phoneProblem(ctx context.Context, call string, err error) error {
	switch {
	case errors.Is(err, webphone.ErrBadOffer):
		return httpx.BadField("sdp", err.Error())
	case errors.Is(err, webphone.ErrAnswered):
		return httpx.Conflict("another offer for this call is being answered")
	case errors.Is(err, webphone.ErrNoRing):
		p := httpx.NotFound(fmt.Sprintf("no call %s rings on this agent's browser", call))
		if w, werr := s.ownerOf(ctx, call); werr == nil && w == elsewhere {
			p = httpx.NotFound(fmt.Sprintf("call %s rings on another gateway instance: post to the URL its ringing gave", call))
		}
		p.Field = "call"
		return p
	}
	return fmt.Errorf("browser phone, call %s: %w", call, err)
}
