package sip_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

func TestContactFirstConnects(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.RingThenAnswer)
	trunk := siptest.StartUAS(t, siptest.RingThenAnswer)
	g := startGateway(t, trunk.Addr, nil)
	rec := &recorder{}

	call, err := g.DialContactFirst(context.Background(), "call-contact-first", agentURI(agent), number, rec.report)
	if err != nil {
		t.Fatalf("DialContactFirst: %v", err)
	}
	rec.wantExactKinds(t, sip.ContactRinging, sip.AgentRinging, sip.AgentAnswered, sip.Connected)
	trunkInvite := trunk.WaitReceived(t, "INVITE", 1)[0]
	agentInvite := agent.WaitReceived(t, "INVITE", 1)[0]
	if agentInvite.Time.Before(trunkInvite.Time) {
		t.Errorf("agent rung at %v, before the contact at %v", agentInvite.Time, trunkInvite.Time)
	}
	if got, want := trunkInvite.RequestURI(), "sip:"+number+"@"+trunk.Addr; got != want {
		t.Errorf("trunk INVITE to %q, want %q", got, want)
	}
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitClosed(t, call.Ended(), "call ended")
	agent.WaitReceived(t, "BYE", 1)
	trunk.WaitReceived(t, "BYE", 1)
	rec.wantExactKinds(t, sip.ContactRinging, sip.AgentRinging, sip.AgentAnswered, sip.Connected, sip.Ended)
}

func TestContactFirstContactBusyAgentNeverRung(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.Answer)
	trunk := siptest.StartUAS(t, siptest.Busy)
	g := startGateway(t, trunk.Addr, nil)
	rec := &recorder{}

	call, err := g.DialContactFirst(context.Background(), "call-cf-busy", agentURI(agent), number, rec.report)
	_ = wantOutcome(t, call, err, sip.OutcomeBusy, 486)
	rec.wantExactKinds(t, sip.Failed)
	if got, _ := agent.Received("INVITE"); len(got) != 0 {
		t.Errorf("agent rung for a busy contact: %v", got)
	}
}

func TestContactFirstAgentDoesNotAnswer(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.NoAnswer)
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, func(c *sip.Config) { c.AgentRingTimeout = time.Second })
	rec := &recorder{}

	call, err := g.DialContactFirst(context.Background(), "call-cf-agent-away", agentURI(agent), number, rec.report)
	// Our CANCEL at the ring timeout: the phone answers 487.
	_ = wantOutcome(t, call, err, sip.OutcomeAgentUnavailable, 487)
	rec.wantKinds(t, sip.ContactRinging, sip.AgentRinging, sip.Failed)
	agent.WaitReceived(t, "CANCEL", 1)
	// The contact answered and waited: hung up on, not left in silence.
	trunk.WaitReceived(t, "BYE", 1)
	trunk.WaitStats(t, "the contact's call complete", func(s map[string]string) bool { return s["SuccessfulCall(C)"] == "1" })
}

func TestContactFirstContactHangsUpWhileAgentRings(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.NoAnswer)
	trunk := siptest.StartUAS(t, siptest.AnswerThenHangUp) // BYE 2 s after the ACK
	g := startGateway(t, trunk.Addr, nil)
	rec := &recorder{}

	call, err := g.DialContactFirst(context.Background(), "call-cf-contact-gone", agentURI(agent), number, rec.report)
	oe := wantOutcome(t, call, err, sip.OutcomeNoAnswer, 0)
	if !strings.Contains(oe.Reason, "contact hung up") {
		t.Errorf("reason %q, want the contact hung up", oe.Reason)
	}
	agent.WaitReceived(t, "CANCEL", 1)
	rec.wantKinds(t, sip.ContactRinging, sip.AgentRinging, sip.Failed)
}

func TestContactFirstAgentNotRegistered(t *testing.T) {
	t.Parallel()
	trunk := siptest.StartUAS(t, siptest.Answer)
	g := startGateway(t, trunk.Addr, nil)
	rec := &recorder{}
	call, err := g.DialContactFirst(context.Background(), "call-cf-no-phone", sip.RegisteredPrefix+"agent9", number, rec.report)
	_ = wantOutcome(t, call, err, sip.OutcomeAgentNotRegistered, 0)
	if got, _ := trunk.Received("INVITE"); len(got) != 0 {
		t.Errorf("contact dialled for an agent without a phone: %v", got)
	}
}

func TestTrunkDigestAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, user, password string
		code                 int // 0: connects
	}{
		{"right credentials", siptest.TrunkAuthUser, siptest.TrunkAuthPassword, 0},
		{"no credentials", "", "", 407},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			agent := siptest.StartUAS(t, siptest.Answer)
			trunk := siptest.StartUAS(t, siptest.ChallengeThenAnswer)
			g := startGateway(t, trunk.Addr, func(c *sip.Config) {
				c.TrunkUser, c.TrunkPassword = tc.user, tc.password
				c.CallerID = "4930555000"
			})
			rec := &recorder{}
			call, err := g.Dial(context.Background(), "call-auth", agentURI(agent), number, rec.report)
			if tc.code != 0 {
				_ = wantOutcome(t, call, err, sip.OutcomeFailed, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			invites := trunk.WaitRequests(t, "INVITE", 2)
			if invites[0].Header("Proxy-Authorization") != "" {
				t.Errorf("first INVITE carries credentials before any challenge")
			}
			auth := invites[1].Header("Proxy-Authorization")
			if !digestValid(auth, "INVITE", siptest.TrunkAuthUser, siptest.TrunkAuthPassword) {
				t.Errorf("Proxy-Authorization %q: not a valid digest for %s", auth, siptest.TrunkAuthUser)
			}
			if from := invites[1].Header("From"); !strings.Contains(from, "sip:4930555000@") {
				t.Errorf("From %q, want the configured caller id", from)
			}
			if err := call.Hangup(context.Background()); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			trunk.WaitStats(t, "one successful call", func(s map[string]string) bool { return s["SuccessfulCall(C)"] == "1" })
		})
	}
}

// digestValid checks an RFC 2617 MD5 digest with qop=auth (what the
// ChallengeThenAnswer trunk asks for).
func digestValid(header, method, user, password string) bool {
	params := map[string]string{}
	rest, ok := strings.CutPrefix(header, "Digest ")
	if !ok {
		return false
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[k] = strings.Trim(v, `"`)
	}
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := h(user + ":" + params["realm"] + ":" + password)
	ha2 := h(method + ":" + params["uri"])
	want := h(strings.Join([]string{ha1, params["nonce"], params["nc"], params["cnonce"], "auth", ha2}, ":"))
	return params["username"] == user && params["qop"] == "auth" && params["response"] == want
}
