// Package siptest runs sipp (Debian package sip-tester) in tests as the
// phones and trunks a SIP service talks to: a UAS that answers, is busy,
// rings forever, hangs up, ...; or a UAC that sends one request and checks the
// answer. Every sipp process listens on 127.0.0.1 only, writes its logs under
// t.TempDir() and is stopped by t.Cleanup.
//
// The scenarios live in scenarios/*.xml, embedded in the test binary. A UAS
// scenario loops: sipp runs it for every incoming call, so one UAS serves a
// whole test.
//
// The package uses only the standard library (libs/go.mod stays as it is) and
// imports no service.
package siptest

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

//go:embed scenarios/*.xml
var scenarios embed.FS

// Scenario names an embedded scenario file (scenarios/<name>.xml). A value
// that starts with "<" is taken as the scenario XML itself, for a one-off
// scenario written in a test.
type Scenario string

// UAS scenarios: what the phone or trunk does with every INVITE it receives.
const (
	// Answer rings (180), answers with SDP (PCMU and telephone-event), takes
	// the ACK and waits for the caller's BYE, which it answers 200.
	Answer Scenario = "answer"
	// AnswerEndsUnacked is Answer, and a trunk that ends an answer nobody
	// ACKs with a BYE of its own, 20 s after its 200 (RFC 3261 13.3.1.4):
	// the way a call answered as its gateway died, before the gateway
	// recorded it, ends.
	AnswerEndsUnacked Scenario = "answer_ends_unacked"
	// RingThenAnswer is Answer with one second of ringing before the 200.
	RingThenAnswer Scenario = "ring_then_answer"
	// AnswerThenHangUp answers like Answer and hangs up itself (BYE) two
	// seconds after the ACK.
	AnswerThenHangUp Scenario = "answer_then_hangup"
	// AnswerHold answers like Answer, then accepts any number of re-INVITEs
	// (hold, retrieve) until the BYE, answering each offer's direction as
	// RFC 3264 says (sendonly with recvonly, inactive with inactive, else
	// sendrecv). Requests reads what each offer asked for.
	AnswerHold Scenario = "answer_hold"
	// AnswerPlayPCMA answers like Answer but with PCMA, then plays the
	// seven seconds of speech in PCMAPcap as RTP toward the caller. Call
	// RequirePCMAPcap first.
	AnswerPlayPCMA Scenario = "answer_play_pcma"
	// Busy answers 486 Busy Here.
	Busy Scenario = "busy"
	// Decline answers 603 Decline.
	Decline Scenario = "decline"
	// NoAnswer rings (180) until the caller's CANCEL, answers it 200 and the
	// INVITE 487 Request Terminated.
	NoAnswer Scenario = "no_answer"
	// SlowRing is NoAnswer with its 180 sent 300 ms after the INVITE, and
	// nothing before it: a caller giving up meanwhile has nothing to
	// CANCEL yet (RFC 3261 9.1) and must CANCEL once the 180 comes.
	SlowRing Scenario = "slow_ring"
	// NotFound answers 404 Not Found, as a trunk does for an unknown number.
	NotFound Scenario = "not_found"
	// Unavailable answers 503 Service Unavailable, as a trunk that is down.
	Unavailable Scenario = "unavailable"
	// ChallengeThenAnswer is a trunk wanting digest authentication: it
	// answers the first INVITE 407 with a Proxy-Authenticate challenge
	// (realm "trunk.test", MD5, qop=auth), then answers the retried INVITE
	// like Answer when it carries Proxy-Authorization for TrunkAuthUser
	// (sipp cannot check a Proxy-Authorization digest: the test checks it
	// against TrunkAuthPassword from FullMessages); without, the call fails.
	ChallengeThenAnswer Scenario = "challenge_then_answer"
)

// The credentials ChallengeThenAnswer expects.
const (
	TrunkAuthUser     = "ringback-trunk"
	TrunkAuthPassword = "trunk-s3cret"
)

// UAC scenarios, for RunUAC: what sipp sends, and the answer it expects.
const (
	// SendOptions sends OPTIONS and expects 200.
	SendOptions Scenario = "options"
	// InviteForbidden sends an INVITE (a call from outside) and expects 403
	// Forbidden, which it ACKs.
	InviteForbidden Scenario = "invite_forbidden"
)

// XML returns the scenario document.
func (s Scenario) XML() ([]byte, error) {
	if strings.HasPrefix(strings.TrimSpace(string(s)), "<") {
		return []byte(s), nil
	}
	if s == "" || strings.ContainsAny(string(s), `/\.`) {
		return nil, fmt.Errorf("siptest: scenario %q: not an embedded scenario name", s)
	}
	b, err := scenarios.ReadFile("scenarios/" + string(s) + ".xml")
	if err != nil {
		return nil, fmt.Errorf("siptest: scenario %q: %w", s, err)
	}
	return b, nil
}

// name is what the logs call the scenario.
func (s Scenario) name() string {
	if strings.HasPrefix(strings.TrimSpace(string(s)), "<") {
		return "inline"
	}
	return string(s)
}

// Sipp returns the path of the sipp binary, or skips the test when it is not
// installed. SIPP overrides the lookup in PATH.
func Sipp(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SIPP"); p != "" {
		return p
	}
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed: apt-get install sip-tester")
	}
	return p
}

// PCMAPcap is the recording of PCMA RTP that sip-tester ships (Debian
// path), played by AnswerPlayPCMA.
const PCMAPcap = "/usr/share/sip-tester/g711a.pcap"

// RequirePCMAPcap skips the test when PCMAPcap is not installed.
func RequirePCMAPcap(t testing.TB) {
	t.Helper()
	Sipp(t)
	if _, err := os.Stat(PCMAPcap); err != nil {
		t.Skipf("%s not installed (Debian package sip-tester): %v", PCMAPcap, err)
	}
}
