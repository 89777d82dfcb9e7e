package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ringback/ringback/libs/siptest"
)

// TestDesktopTransferToAnAgentEndsWithTheirDone (issue 15): d1 consults d2
// and completes the transfer; the interaction goes with the call. d1's
// window closes "Transferred to d2", their unsaved note filed as theirs, and
// d1 may no longer act on it; d2's desktop shows the Web Callback window
// with the case information, d2 ends the call, sets the disposition and
// clicks Done. axe-core runs on both desktops in the transferred states.
func TestDesktopTransferToAnAgentEndsWithTheirDone(t *testing.T) {
	desktopNeedChromium(t)
	siptest.Sipp(t)
	phone1 := siptest.StartUAS(t, siptest.AnswerHold)
	phone2 := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "d1", Name: "Dee One", Token: "d1-token"}, {ID: "d2", Name: "Dee Two", Token: "d2-token"}},
		"--sip-trunk", contact.Addr, "--media.trunk-keepalive", "0")
	b := startDesktopBrowser(t)
	d1, d2 := b.tab(t, "d1"), b.tab(t, "d2")
	d1.login(t, url, "d1", "d1-token", "sip:d1@"+phone1.Addr)
	d2.login(t, url, "d2", "d2-token", "sip:d2@"+phone2.Addr)

	d1.goReady(t)
	const number = "+14155550163"
	cb := desktopCallback(t, a, number, "Refund", "Grace Hopper", map[string]string{"order": "B-42"})
	d1.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	d1.pressNamed(t, desktopPreview, "Accept")
	d1.waitJS(t, "the interaction window, Ready to Call", desktopStatusIs(desktopWindow, "Ready to Call"))
	ix := desktopEval[string](t, d1, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	win := fmt.Sprintf(`%s[data-interaction=%q]`, desktopWindow, ix)
	d2.goReady(t)
	d1.pressNamed(t, win, "Call this contact")
	d1.waitJS(t, "Connected", desktopStatusIs(win, "Connected"))

	// d1 types a note and never saves it by hand: it is kept as a draft.
	note := "Refund of B-42 promised by d1"
	d1.fill(t, win+` textarea[name="text"]`, note)
	var kept struct {
		Draft *struct{ Note string } `json:"draft"`
	}
	a.eventually("/v1/interactions/"+ix+"?access_token=d1-token", &kept, "d1's draft kept", func() bool {
		return kept.Draft != nil && kept.Draft.Note == note
	})

	// Consult d2, then Complete Transfer.
	input := win + ` [data-field="party-target"]`
	d1.fill(t, input, "d2")
	d1.pressNamed(t, win, "Consult")
	d1.waitJS(t, "consulting d2", desktopFieldIs(win, "party", "Consulting d2"))
	phone2.WaitReceived(t, "INVITE", 1)
	d1.pressNamed(t, win, "Complete Transfer")

	// d1: the window closes with whom it went to; d1 is done with it.
	d1.waitJS(t, "d1's window closed, transferred to d2", `!document.querySelector(`+desktopJS(win)+`) && `+
		`document.querySelector('#handover').textContent.startsWith('Transferred to d2')`)
	phone1.WaitFor(t, "BYE at d1's phone", func(ms []siptest.Message) bool { return hasMethod(ms, "BYE") })
	d1.waitJS(t, "d1 no longer Busy", `['After Call Work', 'Ready'].includes(document.querySelector('#channel-state').textContent)`)
	pageAxe(t, d1, "the interaction transferred away")
	d1.screenshot(t, "body", "transfer-away.png")
	if st := desktopPostAs(t, a, "/v1/interactions/"+ix+"/hold", "d1-token"); st != http.StatusNotFound {
		t.Errorf("d1 holds the transferred call: %d, want 404", st)
	}

	// d2: the Web Callback window, theirs, with the case information.
	d2.waitJS(t, "d2's window, Connected", desktopStatusIs(win, "Connected"))
	d2.waitJS(t, "the case information", `document.querySelector(`+desktopJS(win)+`).textContent.includes('B-42')`)
	var ag struct {
		Channels     map[string]struct{ State, Reason string } `json:"channels"`
		Interactions []string                                  `json:"interactions"`
	}
	a.eventually("/v1/agents/d2?access_token=d2-token", &ag, "d2 Busy with the interaction", func() bool {
		return ag.Channels["webcallback"].State == "BUSY" && slices.Contains(ag.Interactions, ix)
	})
	if ag.Channels["webcallback"].Reason != "Handling a web callback" {
		t.Errorf("d2 Busy for %q", ag.Channels["webcallback"].Reason)
	}
	// d2 holds the call they received as their own; its one third-party
	// place is d2's own leg, so they consult or transfer on their next call.
	for name, disabled := range map[string]bool{"Hold": false, "End Call": false, "Consult": true, "Transfer": true} {
		if b := d2.button(t, win, name); b.Disabled != disabled {
			t.Errorf("%s on the call d2 received: disabled %v, want %v", name, b.Disabled, disabled)
		}
	}
	d2.pressNamed(t, win, "Hold")
	d2.waitJS(t, "d2's call On Hold", desktopStatusIs(win, "On Hold"))
	// The gateway held d2's phone (the leg it was transferred to), not
	// d1's, which is gone: the consultation's INVITE, then the hold.
	if got := phone2.WaitRequests(t, "INVITE", 2)[1].Direction(); got != "sendonly" {
		t.Errorf("d2's phone held with %q, want sendonly", got)
	}
	pageAxe(t, d2, "the interaction transferred in, held")
	d2.pressNamed(t, win, "Retrieve")
	d2.waitJS(t, "d2's call Connected again", desktopStatusIs(win, "Connected"))
	if got := phone2.WaitRequests(t, "INVITE", 3)[2].Direction(); got != "sendrecv" {
		t.Errorf("d2's phone retrieved with %q, want sendrecv", got)
	}
	// The callback is d2's now: d2 reads it, in progress.
	var cbView struct{ State string }
	a.eventually("/v1/callbacks/"+cb+"?access_token=d2-token", &cbView, "the callback readable by d2", func() bool {
		return cbView.State == "IN_PROGRESS"
	})
	pageAxe(t, d2, "the interaction transferred in, connected")
	d2.screenshot(t, "body", "transfer-received.png")
	if ms, _ := contact.Received("BYE"); len(ms) != 0 {
		t.Errorf("the contact was hung up by the transfer: %v", ms)
	}

	// d2 ends the call, chooses a code and clicks Done.
	d2.pressNamed(t, win, "End Call")
	d2.waitJS(t, "Ready to Call after End Call", desktopStatusIs(win, "Ready to Call"))
	contact.WaitFor(t, "BYE at the contact", func(ms []siptest.Message) bool { return hasMethod(ms, "BYE") })
	sel := win + ` [data-field="disposition"]`
	d2.do(t, "focus the Disposition Code list", chromedp.Focus(chromedp.CSS(sel)))
	d2.do(t, "choose Resolved", chromedp.KeyEvent("Resolved"))
	d2.waitJS(t, "Resolved chosen", `document.querySelector(`+desktopJS(sel)+`).value === 'resolved'`)
	pageAxe(t, d2, "wrap-up of the transferred interaction")
	d2.pressNamed(t, win, "Done")
	d2.waitJS(t, "d2's window closed", `!document.querySelector(`+desktopJS(win)+`)`)
	d2.waitJS(t, "d2 no longer Busy", `['After Call Work', 'Ready'].includes(document.querySelector('#channel-state').textContent)`)
	if p := desktopEval[string](t, d2, `document.querySelector('#problem-text').textContent`); p != "" {
		t.Errorf("a problem is shown on d2's desktop: %s", p)
	}

	var final struct{ Phase, Disposition string }
	a.eventually("/v1/interactions/"+ix+"?access_token=d2-token", &final, "done by d2", func() bool {
		return final.Phase == "done" && final.Disposition == "resolved"
	})
	var trail []struct{ Type string }
	a.eventually("/v1/interactions/"+ix+"/events?access_token=d2-token", &trail, "the move in the audit trail", func() bool {
		return hasInOrder(trail, "ConsultRequested", "CallTransferred", "DraftFiled", "InteractionTransferred", "InteractionDone")
	})
	var history []struct {
		InteractionID string `json:"interaction_id"`
		Notes         []struct {
			Text    string
			AgentID string `json:"agent_id"`
		}
	}
	a.eventually("/v1/contacts/"+number+"/history?access_token=d2-token", &history, "d1's note in the contact's history", func() bool {
		return len(history) > 0 && len(history[0].Notes) == 1 && history[0].Notes[0].Text == note
	})
	if who := history[0].Notes[0].AgentID; who != "" && who != "d1" {
		t.Errorf("d1's note filed as %q's", who)
	}
	d1.noExceptions(t)
	d2.noExceptions(t)
}

// desktopPostAs POSTs path with no body as the agent of token; it returns
// the status.
func desktopPostAs(t *testing.T, a api, path, token string) int {
	t.Helper()
	req, err := http.NewRequest("POST", a.route("POST", path)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// desktopHangUpAfter is siptest.AnswerThenHangUp hanging up after the given
// pause rather than two seconds: a phone whose agent hangs up later.
func desktopHangUpAfter(t *testing.T, ms int) siptest.Scenario {
	t.Helper()
	xml, err := siptest.AnswerThenHangUp.XML()
	if err != nil {
		t.Fatal(err)
	}
	const pause = `<pause milliseconds="2000"/>`
	if !strings.Contains(string(xml), pause) {
		t.Fatalf("siptest.AnswerThenHangUp no longer pauses 2s before its BYE:\n%s", xml)
	}
	return siptest.Scenario(strings.Replace(string(xml), pause, fmt.Sprintf(`<pause milliseconds="%d"/>`, ms), 1))
}

// TestDesktopAgentLeavesTheConference (issue 15): with the service's
// conference.agent_may_leave, d1 hanging up their phone in a conference
// with the contact and d2 leaves the two talking; the interaction goes to
// d2, who ends the call and clicks Done.
func TestDesktopAgentLeavesTheConference(t *testing.T) {
	desktopNeedChromium(t)
	siptest.Sipp(t)
	// d1's phone hangs up by itself, long enough after answering for the
	// test to have made the conference.
	phone1 := siptest.StartUAS(t, desktopHangUpAfter(t, 12000))
	phone2 := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	services := filepath.Join(t.TempDir(), "services.yaml")
	if err := os.WriteFile(services, []byte("services:\n  support:\n    calling_window: \"off\"\n    conference: {agent_may_leave: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "d1", Name: "Dee One", Token: "d1-token"}, {ID: "d2", Name: "Dee Two", Token: "d2-token"}},
		"--sip-trunk", contact.Addr, "--media.trunk-keepalive", "0", "--services", services)
	b := startDesktopBrowser(t)
	d1, d2 := b.tab(t, "d1"), b.tab(t, "d2")
	d1.login(t, url, "d1", "d1-token", "sip:d1@"+phone1.Addr)
	d2.login(t, url, "d2", "d2-token", "sip:d2@"+phone2.Addr)
	d1.goReady(t)
	desktopCallback(t, a, "+14155550164", "Upgrade", "Ada Lovelace", map[string]string{"plan": "Team"})
	d1.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	d1.pressNamed(t, desktopPreview, "Accept")
	d1.waitJS(t, "the interaction window, Ready to Call", desktopStatusIs(desktopWindow, "Ready to Call"))
	ix := desktopEval[string](t, d1, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	win := fmt.Sprintf(`%s[data-interaction=%q]`, desktopWindow, ix)
	d2.goReady(t)
	d1.pressNamed(t, win, "Call this contact")
	d1.waitJS(t, "Connected", desktopStatusIs(win, "Connected"))
	d1.fill(t, win+` [data-field="party-target"]`, "d2")
	d1.pressNamed(t, win, "Consult")
	d1.waitJS(t, "consulting d2", desktopFieldIs(win, "party", "Consulting d2"))
	d1.pressNamed(t, win, "Conference")
	d1.waitJS(t, "the conference with d2", desktopFieldIs(win, "party", "Conference with d2"))

	// d1's phone hangs up: d1 has left, d2 has the interaction.
	d1.waitJS(t, "d1's window closed, transferred to d2", `!document.querySelector(`+desktopJS(win)+`) && `+
		`document.querySelector('#handover').textContent.startsWith('Transferred to d2')`)
	d2.waitJS(t, "d2's window, Connected", desktopStatusIs(win, "Connected"))
	desktopAgentBecomes(t, a, "d2", "d2-token", "BUSY")
	if ms, _ := contact.Received("BYE"); len(ms) != 0 {
		t.Errorf("the contact was hung up when d1 left: %v", ms)
	}
	if ms, _ := phone2.Received("BYE"); len(ms) != 0 {
		t.Errorf("d2 was hung up when d1 left: %v", ms)
	}
	pageAxe(t, d2, "the interaction received from a conference")

	d2.pressNamed(t, win, "End Call")
	d2.waitJS(t, "Ready to Call after End Call", desktopStatusIs(win, "Ready to Call"))
	sel := win + ` [data-field="disposition"]`
	d2.do(t, "focus the Disposition Code list", chromedp.Focus(chromedp.CSS(sel)))
	d2.do(t, "choose Resolved", chromedp.KeyEvent("Resolved"))
	d2.waitJS(t, "Resolved chosen", `document.querySelector(`+desktopJS(sel)+`).value === 'resolved'`)
	d2.pressNamed(t, win, "Done")
	d2.waitJS(t, "d2's window closed", `!document.querySelector(`+desktopJS(win)+`)`)
	var trail []struct{ Type string }
	a.eventually("/v1/interactions/"+ix+"/events?access_token=d2-token", &trail, "the conference left in the audit trail", func() bool {
		return hasInOrder(trail, "ConferenceStarted", "CallTransferred", "InteractionTransferred", "InteractionDone")
	})
	d1.noExceptions(t)
	d2.noExceptions(t)
}
