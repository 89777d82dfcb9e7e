package siptest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"testing"
)

// callAndHangUp is a UAC that places a call, waits for the answer, ACKs it
// and hangs up: the caller every UAS scenario that answers expects.
const callAndHangUp Scenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call_and_hang_up">
  <send retrans="500">
    <![CDATA[

      INVITE sip:+14155550123@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:ringback@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:+14155550123@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:ringback@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=rb 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:ringback@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:+14155550123@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:ringback@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:+14155550123@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
`

func TestScenariosAreWellFormed(t *testing.T) {
	files, err := fs.Glob(scenarios, "scenarios/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded scenarios: %v", err)
	}
	for _, f := range files {
		name := Scenario(strings.TrimSuffix(strings.TrimPrefix(f, "scenarios/"), ".xml"))
		b, err := name.XML()
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil } // ISO-8859-1, ASCII content
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", f, err)
				break
			}
		}
	}
	if _, err := Scenario("../siptest.go").XML(); err == nil {
		t.Error("a path is not a scenario name")
	}
}

func TestParseShortMessages(t *testing.T) {
	log := "2026-11-25\t14:15:22.348027\t1795616122.348027\tR\t1-8606@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:+14155550123@127.0.0.1:5070 SIP/2.0\n" +
		"2026-11-25\t14:15:22.349467\t1795616122.349467\tS\t1-8606@127.0.0.1\tCSeq:1 INVITE\tSIP/2.0 486 Busy Here\n" +
		"2026-11-25\t14:15:22.3494" // sipp is still writing this one
	msgs := parseShortMessages([]byte(log))
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2: %v", len(msgs), msgs)
	}
	in, out := msgs[0], msgs[1]
	if in.Sent || in.Method() != "INVITE" || in.RequestURI() != "sip:+14155550123@127.0.0.1:5070" || in.CSeq != "1 INVITE" || in.StatusCode() != 0 {
		t.Errorf("request parsed as %+v", in)
	}
	if !out.Sent || out.Method() != "" || out.StatusCode() != 486 || out.CallID != "1-8606@127.0.0.1" {
		t.Errorf("response parsed as %+v", out)
	}
	if in.Time.Unix() != 1795616122 {
		t.Errorf("time = %v", in.Time)
	}
}

func TestAnswerServesEveryCall(t *testing.T) {
	t.Parallel()
	uas := StartUAS(t, Answer)
	for range 2 {
		if uac := RunUAC(t, callAndHangUp, uas.Addr); uac.ExitCode != 0 {
			t.Fatalf("call to the Answer UAS failed: sipp exited %d", uac.ExitCode)
		}
	}
	invites := uas.WaitReceived(t, "INVITE", 2)
	if got := invites[0].RequestURI(); !strings.HasPrefix(got, "sip:+14155550123@") {
		t.Errorf("request URI = %q", got)
	}
	uas.WaitReceived(t, "BYE", 2)
	raw, err := uas.RawMessages()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, "m=audio") {
		t.Error("full message log has no SDP")
	}
	uas.WaitStats(t, "2 successful calls", func(s map[string]string) bool { return s["SuccessfulCall(C)"] == "2" })
	if code := uas.Stop(); code != 0 {
		t.Errorf("UAS exit code = %d, want 0 (every call passed)", code)
	}
}

func TestRejectingScenarios(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scenario Scenario
		code     int
	}{
		{Busy, 486},
		{NotFound, 404},
		{Unavailable, 503},
		{Decline, 603},
	} {
		t.Run(string(tc.scenario), func(t *testing.T) {
			t.Parallel()
			uas := StartUAS(t, tc.scenario)
			// The caller expects a 200 it does not get: its call fails.
			if uac := RunUAC(t, callAndHangUp, uas.Addr); uac.ExitCode == 0 {
				t.Error("call to a rejecting UAS passed")
			}
			uas.WaitFor(t, "final response sent", func(msgs []Message) bool {
				for _, m := range msgs {
					if m.Sent && m.StatusCode() == tc.code {
						return true
					}
				}
				return false
			})
		})
	}
}

func TestParseFullMessages(t *testing.T) {
	invite := "INVITE sip:+14155550123@127.0.0.1:5070 SIP/2.0\r\nCSeq: 2 INVITE\r\nContent-Length: 41\r\n\r\nv=0\r\nm=audio 6000 RTP/AVP 0\r\na=sendonly\r\n"
	ok := "SIP/2.0 200 OK\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n"
	log := fullMessageSeparator + " 2026-11-25 14:56:00.241531\nUDP message received [" + strconv.Itoa(len(invite)) + "] bytes :\n\n" + invite + "\n\n" +
		fullMessageSeparator + " 2026-11-25 14:56:00.241701\nUDP message sent (" + strconv.Itoa(len(ok)) + " bytes):\n\n" + ok + "\n\n" +
		fullMessageSeparator + " 2026-11-25 14:56:00.242887\nUDP message received [400] bytes :\n\nBYE sip:" // still being written
	msgs := parseFullMessages(log)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2: %+v", len(msgs), msgs)
	}
	in, out := msgs[0], msgs[1]
	if in.Sent || in.Method() != "INVITE" || in.Header("cseq") != "2 INVITE" || in.Direction() != "sendonly" || in.Text != invite {
		t.Errorf("request parsed as %+v (direction %q)", in, in.Direction())
	}
	if !out.Sent || out.Method() != "" || out.StartLine() != "SIP/2.0 200 OK" || out.Direction() != "" {
		t.Errorf("response parsed as %+v", out)
	}
	if got := (FullMessage{Text: "INVITE x SIP/2.0\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n"}).Direction(); got != "sendrecv" {
		t.Errorf("direction without attribute = %q, want sendrecv", got)
	}
}

// callNeverAcked is a UAC that places a call and never ACKs the answer, as
// a gateway killed between the 200 and its ACK; it expects the BYE.
const callNeverAcked Scenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call_never_acked">
  <send retrans="500">
    <![CDATA[

      INVITE sip:+14155550123@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:ringback@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:+14155550123@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:ringback@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <recv request="BYE" timeout="28000"/>
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
</scenario>
`

// TestAnswerEndsUnackedHangsUpWhatNobodyACKs: an ACKed call waits for the
// caller's BYE as with Answer; an answer never ACKed gets the trunk's own
// BYE (RFC 3261 13.3.1.4), 20 s after the 200.
func TestAnswerEndsUnackedHangsUpWhatNobodyACKs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits 20 s for the BYE")
	}
	t.Parallel()
	uas := StartUAS(t, AnswerEndsUnacked)
	if uac := RunUAC(t, callAndHangUp, uas.Addr); uac.ExitCode != 0 {
		t.Fatalf("an ACKed call: sipp exited %d", uac.ExitCode)
	}
	if uac := RunUAC(t, callNeverAcked, uas.Addr); uac.ExitCode != 0 {
		t.Fatalf("an answer never ACKed got no BYE: sipp exited %d", uac.ExitCode)
	}
	msgs, err := uas.Messages()
	if err != nil {
		t.Fatal(err)
	}
	var byes []Message
	for _, m := range msgs {
		if m.Method() == "BYE" {
			byes = append(byes, m)
		}
	}
	if len(byes) != 2 || byes[0].Sent || !byes[1].Sent {
		t.Fatalf("BYEs = %v, want the caller's on the ACKed call, then the trunk's own", byes)
	}
}
