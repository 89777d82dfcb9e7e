package sip_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo"

	"github.com/ringback/ringback/libs/siptest"
)

// TestHoldSignalling checks the re-INVITEs of hold and retrieve on the wire,
// against sipp phones that answer them as RFC 3264 says.
func TestHoldSignalling(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.AnswerHold)
	trunk := siptest.StartUAS(t, siptest.AnswerHold)
	g := startGateway(t, trunk.Addr, nil)
	ctx := context.Background()
	call, err := g.Dial(ctx, "call-hold", agentURI(agent), number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}

	if err := call.Hold(ctx); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	for _, phone := range []*siptest.UAS{trunk, agent} {
		invites := phone.WaitRequests(t, "INVITE", 2)
		if got := invites[1].Direction(); got != "sendonly" {
			t.Errorf("hold re-INVITE offers %q, want sendonly:\n%s", got, invites[1].Text)
		}
		if invites[1].Header("Call-ID") != invites[0].Header("Call-ID") {
			t.Error("hold re-INVITE outside the call's dialog")
		}
		if got := answerTo(t, phone, invites[1]).Direction(); got != "recvonly" {
			t.Errorf("phone answered the hold with %q, want recvonly", got)
		}
	}
	if err := call.Hold(ctx); err != nil { // on hold already: no re-INVITE
		t.Fatalf("second Hold: %v", err)
	}
	if err := call.Retrieve(ctx); err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	for _, phone := range []*siptest.UAS{trunk, agent} {
		invites := phone.WaitRequests(t, "INVITE", 3)
		if got := invites[2].Direction(); got != "sendrecv" {
			t.Errorf("retrieve re-INVITE offers %q, want sendrecv:\n%s", got, invites[2].Text)
		}
		if got := answerTo(t, phone, invites[2]).Direction(); got != "sendrecv" {
			t.Errorf("phone answered the retrieve with %q, want sendrecv", got)
		}
	}
	if call.OnHold() {
		t.Error("OnHold after Retrieve")
	}

	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	for _, phone := range []*siptest.UAS{trunk, agent} {
		phone.WaitReceived(t, "BYE", 1)
		if got := phone.WaitRequests(t, "INVITE", 3); len(got) != 3 {
			t.Errorf("%d INVITEs, want 3 (call, hold, retrieve)", len(got))
		}
		// sipp answered every re-INVITE and the BYE as its scenario says.
		phone.WaitStats(t, "one successful call", func(s map[string]string) bool { return s["SuccessfulCall(C)"] == "1" })
	}
}

// answerTo returns the final response the phone sent to req.
func answerTo(t *testing.T, phone *siptest.UAS, req siptest.FullMessage) siptest.FullMessage {
	t.Helper()
	var res siptest.FullMessage
	phone.WaitFor(t, "answer to "+req.Header("CSeq"), func([]siptest.Message) bool {
		msgs, err := phone.FullMessages()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Sent && m.Method() == "" && !strings.HasPrefix(m.StartLine(), "SIP/2.0 1") &&
				m.Header("Call-ID") == req.Header("Call-ID") && m.Header("CSeq") == req.Header("CSeq") {
				res = m
				return true
			}
		}
		return false
	})
	return res
}

// refuseReInvite answers the call, then refuses the re-INVITE with 488.
const refuseReInvite siptest.Scenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refuse_reinvite">
  <recv request="INVITE" crlf="true"/>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="INVITE"/>
  <send>
    <![CDATA[

      SIP/2.0 488 Not Acceptable Here
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="1000"/>
</scenario>
`

// TestHoldRefused: when the contact's side refuses the hold, Hold says why
// and the call goes on, not on hold; the agent's phone is left alone.
func TestHoldRefused(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.AnswerHold)
	trunk := siptest.StartUAS(t, refuseReInvite)
	g := startGateway(t, trunk.Addr, nil)
	ctx := context.Background()
	call, err := g.Dial(ctx, "call-hold-refused", agentURI(agent), number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	err = call.Hold(ctx)
	var res sipgo.ErrDialogResponse
	if !errors.As(err, &res) || res.Res.StatusCode != 488 {
		t.Fatalf("Hold = %v, want the 488 (sipgo.ErrDialogResponse)", err)
	}
	if call.OnHold() {
		t.Error("OnHold after a refused hold")
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	trunk.WaitStats(t, "the trunk's call passed", func(s map[string]string) bool { return s["SuccessfulCall(C)"] == "1" })
	agent.WaitReceived(t, "BYE", 1)
	if got := agent.WaitRequests(t, "INVITE", 1); len(got) != 1 {
		t.Errorf("the agent got %d INVITEs, want 1: no hold without the contact's", len(got))
	}
}
