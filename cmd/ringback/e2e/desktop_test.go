package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ringback/ringback/libs/siptest"
)

// The agent desktop end to end: the built binary, agents with bearer tokens
// from an agents file, sipp as the agent's phone and as the contact, and
// headless Chromium as the agent. Every step is what an agent does on the
// page (buttons found by their accessible names and clicked with the
// mouse), and what the guide says they then see.

// desktopAgent is one entry of the agents file (agent-session's agents.go).
type desktopAgent struct {
	ID         string             `json:"id"`
	Name       string             `json:"name,omitempty"`
	Token      string             `json:"token"`
	AutoAnswer *desktopAutoAnswer `json:"auto_answer,omitempty"`
	Supervisor bool               `json:"supervisor,omitempty"`
	Services   []string           `json:"services,omitempty"`
}

type desktopAutoAnswer struct {
	After     string `json:"after"`
	CanReject bool   `json:"can_reject"`
}

func desktopAgentsFile(t *testing.T, agents ...desktopAgent) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"agents": agents})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// desktopPlatform starts ringback with these agents and returns it, its API
// and the desktop's address.
func desktopPlatform(t *testing.T, agents []desktopAgent, args ...string) (*proc, api, string) {
	t.Helper()
	args = append([]string{"--data", t.TempDir(), "--sip", freePort(t, "udp"),
		"--agents", desktopAgentsFile(t, agents...)}, args...)
	p := start(t, "ringback", args...)
	a := api{t: t, route: func(string, string) string { return p.URL }}
	return p, a, desktopURL(t, p)
}

// js quotes s as a JavaScript string literal.
func desktopJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// login opens the desktop and logs in as the agent would.
func (tab *desktopTab) login(t *testing.T, url, agent, token, phone string) {
	t.Helper()
	tab.do(t, "open the desktop", chromedp.Navigate(url))
	tab.waitJS(t, "the login form", `!document.querySelector('#login').hidden`)
	tab.fill(t, "#login-agent", agent)
	tab.fill(t, "#login-token", token)
	if phone != "" {
		tab.fill(t, "#login-phone", phone)
	}
	tab.pressNamed(t, "#login", "Log in")
	tab.waitJS(t, "logged in, Not Ready", `!document.querySelector('#me').hidden &&
		document.querySelector('#channel-state').textContent === 'Not Ready'`)
}

// goReady sets the web callback channel Ready.
func (tab *desktopTab) goReady(t *testing.T) {
	t.Helper()
	tab.pressNamed(t, "#me", "Ready")
	tab.waitJS(t, "Ready on web callback", `document.querySelector('#channel-state').textContent === 'Ready'`)
}

// watchPreviews records every preview the page shows and removes, so that
// a test sees one that comes and goes between two looks.
func (tab *desktopTab) watchPreviews(t *testing.T) {
	t.Helper()
	desktopEval[chromedp.Void](t, tab, `(() => {
		window.previewLog = [];
		new MutationObserver((records) => {
			for (const r of records) {
				for (const n of r.addedNodes) if (n.dataset) window.previewLog.push('add:' + n.dataset.interaction);
				for (const n of r.removedNodes) if (n.dataset) window.previewLog.push('remove:' + n.dataset.interaction);
			}
		}).observe(document.querySelector('#previews'), {childList: true});
	})()`)
}

// watchStatus records every call status the interaction window shows.
func (tab *desktopTab) watchStatus(t *testing.T, win string) {
	t.Helper()
	desktopEval[chromedp.Void](t, tab, fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		window.statusLog = [el.textContent];
		new MutationObserver(() => {
			if (window.statusLog.at(-1) !== el.textContent) window.statusLog.push(el.textContent);
		}).observe(el, {childList: true, characterData: true, subtree: true});
	})()`, desktopJS(win+` [data-field="status"]`)))
}

// answer presses a button and returns the HTTP status the platform gave
// the request it caused (path ends with suffix).
func (tab *desktopTab) answer(t *testing.T, css, name, suffix string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	responses := chromedp.Events(ctx, network.ResponseReceived)
	tab.pressNamed(t, css, name)
	for ev, err := range responses {
		if err != nil {
			tab.fatal(t, "no answer to %s: %v", name, err)
		}
		if strings.HasSuffix(strings.SplitN(ev.Response.URL, "?", 2)[0], suffix) {
			return int(ev.Response.Status)
		}
	}
	return 0
}

// poll is waitJS that reports instead of failing.
func (tab *desktopTab) poll(expr string) bool {
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("Boolean("+expr+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(desktopWait)))
	return err == nil
}

func desktopCallback(t *testing.T, a api, number, subject, contact string, caseData map[string]string) string {
	t.Helper()
	return desktopCallbackFor(t, a, "support", number, subject, contact, caseData)
}

func desktopCallbackFor(t *testing.T, a api, service, number, subject, contact string, caseData map[string]string) string {
	t.Helper()
	r := a.do("POST", "/v1/callbacks", map[string]any{"service": service, "phone_number": number, "subject": subject,
		"contact_name": contact, "case_data": caseData})
	var cb struct{ ID string }
	r.decode(t, &cb)
	if r.Status != 201 || cb.ID == "" {
		t.Fatalf("create callback: %d %s", r.Status, r.Body)
	}
	return cb.ID
}

// desktopRingThenAnswerHold is siptest.AnswerHold with a second of ringing
// before the answer, as siptest.RingThenAnswer is siptest.Answer.
func desktopRingThenAnswerHold(t *testing.T) siptest.Scenario {
	t.Helper()
	xml, err := siptest.AnswerHold.XML()
	if err != nil {
		t.Fatal(err)
	}
	ringing := strings.Index(string(xml), "</send>")
	if ringing < 0 || !strings.Contains(string(xml[:ringing]), "180 Ringing") {
		t.Fatalf("siptest.AnswerHold no longer starts with a 180 Ringing:\n%s", xml)
	}
	at := ringing + len("</send>")
	return siptest.Scenario(string(xml[:at]) + "\n  <pause milliseconds=\"1000\"/>\n" + string(xml[at:]))
}

const (
	desktopPreview = "#previews .preview"
	desktopWindow  = "#interactions .window"
)

func desktopStatusIs(win, status string) string {
	return fmt.Sprintf(`document.querySelector(%s)?.textContent === %s`, desktopJS(win+` [data-field="status"]`), desktopJS(status))
}

// TestDesktopWebCallback walks the guide's lesson on the page: log in, go
// Ready, the preview, Accept, Call this contact, Establishing then
// Connected, Hold / Retrieve, End Call, a disposition code, a note, Done.
func TestDesktopWebCallback(t *testing.T) {
	desktopNeedChromium(t)
	siptest.Sipp(t)
	// Phones that take the re-INVITEs of Hold and Retrieve; the contact
	// rings a second first, so that Establishing shows.
	phone := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, desktopRingThenAnswerHold(t))
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "ann", Name: "Ann", Token: "ann-secret-token"}},
		"--sip-trunk", contact.Addr)
	tab := startDesktopBrowser(t).tab(t, "ann")

	// A wrong token is refused, and the agent is told why.
	tab.do(t, "open the desktop", chromedp.Navigate(url))
	tab.fill(t, "#login-agent", "ann")
	tab.fill(t, "#login-token", "not-ann-s-token")
	tab.pressNamed(t, "#login", "Log in")
	tab.waitJS(t, "the refusal read out", `document.querySelector('#problem-text[role=alert]').textContent.includes('token')`)
	if desktopEval[bool](t, tab, `document.querySelector('#login').hidden`) {
		t.Fatal("logged in with a wrong token")
	}

	tab.login(t, url, "ann", "ann-secret-token", "sip:ann@"+phone.Addr)
	tab.goReady(t)
	// Not Ready with a reason code, shown beside the state; then Ready again.
	desktopEval[bool](t, tab, `(document.querySelector('#not-ready-reason').value = 'Lunch') === 'Lunch'`)
	tab.pressNamed(t, "#me", "Not Ready")
	tab.waitJS(t, "Not Ready (Lunch)", `document.querySelector('#channel-state').textContent === 'Not Ready' &&
		document.querySelector('#channel-reason').textContent.includes('Lunch')`)
	tab.goReady(t)

	// A visitor asks to be called back; the preview takes the focus, with
	// its title read first.
	const number = "+14155550161"
	cb := desktopCallback(t, a, number, "Billing", "Ada Lovelace",
		map[string]string{"order": "A-17", "crm": "https://crm.example/A-17"})
	tab.waitJS(t, "the preview, focused", `document.activeElement?.matches(`+desktopJS(desktopPreview)+`)`)
	if got := desktopEval[string](t, tab, `document.getElementById(document.activeElement.getAttribute('aria-labelledby')).textContent`); got != "Web Callback Interaction Preview" {
		t.Fatalf("the focused preview's title is %q", got)
	}
	if role := desktopEval[string](t, tab, `document.activeElement.getAttribute('role')`); role != "dialog" {
		t.Fatalf("the preview's role is %q", role)
	}
	preview := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(desktopPreview)+`).innerText`)
	for _, want := range []string{"Ada Lovelace", "Billing", number, "order", "A-17", "https://crm.example/A-17", "Time in queue", "Case Information"} {
		if !strings.Contains(preview, want) {
			t.Errorf("the preview lacks %q:\n%s", want, preview)
		}
	}
	if !regexp.MustCompile(`Time in queue\s+\d\d:\d\d`).MatchString(preview) {
		t.Errorf("no time in queue in the preview:\n%s", preview)
	}
	tab.button(t, desktopPreview, "Accept")
	tab.button(t, desktopPreview, "Reject")
	tab.screenshot(t, desktopPreview, "preview.png")

	// Accept: the Web Callback interaction window, Ready to Call.
	tab.pressNamed(t, desktopPreview, "Accept")
	tab.waitJS(t, "the interaction window, Ready to Call", desktopStatusIs(desktopWindow, "Ready to Call"))
	tab.waitJS(t, "the preview gone", `!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	ix := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	win := fmt.Sprintf(`%s[data-interaction=%q]`, desktopWindow, ix)
	text := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(win)+`).innerText`)
	for _, want := range []string{"Case Information", "Callback Information", "Billing", number, "Scheduled date and time"} {
		if !strings.Contains(text, want) {
			t.Errorf("the window lacks %q:\n%s", want, text)
		}
	}
	// A link in the case information opens a new window, and only that.
	link := desktopEval[map[string]string](t, tab, `(() => { const a = document.querySelector(`+desktopJS(win+` a[href="https://crm.example/A-17"]`)+`);
		return a ? {target: a.target, rel: a.rel} : {}; })()`)
	if link["target"] != "_blank" || !strings.Contains(link["rel"], "noopener") {
		t.Errorf("case information link: %v", link)
	}
	// Only what Ready to Call allows is enabled.
	for name, enabled := range map[string]bool{"Call this contact": true, "End Call": false, "Hold": false, "Retrieve": false,
		"Mute": false, "Done": false, "Reschedule": true, "Save Note": true, "Edit Case Information": true} {
		if b := tab.button(t, win, name); b.Disabled == enabled {
			t.Errorf("%q: disabled %v at Ready to Call", name, b.Disabled)
		}
	}
	tab.screenshot(t, win, "interaction-window.png")

	// Call this contact: the agent's phone, then the contact; Establishing
	// until the contact answers, then Connected.
	tab.watchStatus(t, win)
	tab.pressNamed(t, win, "Call this contact")
	tab.waitJS(t, "Connected", desktopStatusIs(win, "Connected"))
	var seen []string
	raw := desktopEval[[]byte](t, tab, `window.statusLog`)
	_ = json.Unmarshal(raw, &seen)
	if strings.Join(seen, " > ") != "Ready to Call > Establishing > Connected" {
		t.Errorf("statuses shown: %v, want Ready to Call > Establishing > Connected", seen)
	}
	contact.WaitFor(t, "INVITE for the contact", func(ms []siptest.Message) bool {
		for _, m := range ms {
			if m.Method() == "INVITE" && strings.HasPrefix(m.RequestURI(), "sip:"+number+"@") {
				return true
			}
		}
		return false
	})
	for name, enabled := range map[string]bool{"Call this contact": false, "End Call": true, "Hold": true, "Retrieve": false,
		"Mute": true, "Done": false, "1": true} {
		if b := tab.button(t, win, name); b.Disabled == enabled {
			t.Errorf("%q: disabled %v when Connected", name, b.Disabled)
		}
	}
	tab.screenshot(t, win, "interaction-window-connected.png")

	t.Run("Hold and Retrieve", func(t *testing.T) {
		if status := tab.answer(t, win, "Hold", "/hold"); status/100 != 2 {
			t.Skipf("Hold: the platform answered %d, the backend route is landing", status)
		}
		if !tab.poll(desktopStatusIs(win, "On Hold")) {
			t.Skipf("Hold was accepted but the call did not go On Hold within %s; problem shown: %q",
				desktopWait, desktopEval[string](t, tab, `document.querySelector('#problem-text').textContent`))
		}
		if b := tab.button(t, win, "Retrieve"); b.Disabled {
			t.Error("Retrieve disabled On Hold")
		}
		if b := tab.button(t, win, "Hold"); !b.Disabled {
			t.Error("Hold enabled On Hold")
		}
		tab.pressNamed(t, win, "Retrieve")
		tab.waitJS(t, "Connected again", desktopStatusIs(win, "Connected"))
	})

	t.Run("Keypad and Mute", func(t *testing.T) {
		if status := tab.answer(t, win, "5", "/dtmf"); status/100 != 2 {
			t.Skipf("Keypad: the platform answered %d, the backend route is landing", status)
		}
		tab.waitJS(t, "the digit shown as sent", `document.querySelector(`+desktopJS(win+` [data-field="dtmf"]`)+`).textContent === '5'`)
		if status := tab.answer(t, win, "Mute", "/mute"); status/100 != 2 {
			t.Skipf("Mute: the platform answered %d, the backend route is landing", status)
		}
		tab.button(t, win, "Unmute")
		tab.waitJS(t, "Muted shown", `document.querySelector(`+desktopJS(win+` [data-field="flags"]`)+`).textContent.includes('Muted')`)
		tab.pressNamed(t, win, "Unmute")
		tab.button(t, win, "Mute")
	})

	// End Call: back to Ready to Call, both legs hung up.
	tab.waitJS(t, "a call to end", desktopStatusIs(win, "Connected"))
	tab.pressNamed(t, win, "End Call")
	tab.waitJS(t, "Ready to Call after End Call", desktopStatusIs(win, "Ready to Call"))
	contact.WaitFor(t, "BYE at the contact", func(ms []siptest.Message) bool { return hasMethod(ms, "BYE") })
	phone.WaitFor(t, "BYE at the agent phone", func(ms []siptest.Message) bool { return hasMethod(ms, "BYE") })
	if b := tab.button(t, win, "Done"); !b.Disabled {
		t.Error("Done enabled before a disposition code is chosen")
	}

	// A disposition code from the list, with the keyboard.
	sel := win + ` [data-field="disposition"]`
	tab.do(t, "focus the Disposition Code list", chromedp.Focus(chromedp.CSS(sel)))
	tab.do(t, "choose Resolved", chromedp.KeyEvent("Resolved"))
	tab.waitJS(t, "Resolved chosen", `document.querySelector(`+desktopJS(sel)+`).value === 'resolved'`)

	// A note.
	note := "Asked for a refund of A-17; see https://crm.example/A-17"
	tab.fill(t, win+` textarea[name="text"]`, note)
	tab.pressNamed(t, win, "Save Note")
	tab.waitJS(t, "the note listed", `document.querySelector(`+desktopJS(win+` [data-field="notes"]`)+`).textContent.includes(`+desktopJS(note)+`)`)

	// Done: the window closes, the agent is Ready again.
	tab.pressNamed(t, win, "Done")
	tab.waitJS(t, "the window closed", `!document.querySelector(`+desktopJS(win)+`)`)
	tab.waitJS(t, "Ready again", `document.querySelector('#channel-state').textContent === 'Ready'`)
	// Issue 15: a Ready agent is told they wait for a callback, not to go Ready.
	tab.waitJS(t, "Ready said", `document.querySelector('#idle').textContent.startsWith('Ready. Waiting')`)
	if p := desktopEval[string](t, tab, `document.querySelector('#problem-text').textContent`); p != "" {
		t.Errorf("a problem is shown: %s", p)
	}

	var final struct{ State, Disposition string }
	a.eventually("/v1/callbacks/"+cb+"?access_token=ann-secret-token", &final, "callback COMPLETED", func() bool {
		return final.State == "COMPLETED" && final.Disposition == "resolved"
	})
	var history []struct {
		CallbackID string `json:"callback_id"`
		Notes      []struct{ Text string }
	}
	a.eventually("/v1/contacts/"+number+"/history?access_token=ann-secret-token", &history, "the note in the contact's history", func() bool {
		return len(history) > 0 && history[0].CallbackID == cb && len(history[0].Notes) == 1 && history[0].Notes[0].Text == note
	})

	tab.pressNamed(t, "#me", "Log out")
	tab.waitJS(t, "the login form again", `!document.querySelector('#login').hidden`)
	tab.noExceptions(t)
}

// TestDesktopAutoAnswer: an auto-answer agent's preview counts down in the
// Accept button and the platform accepts at zero; Reject shows only for
// agents allowed to reject.
func TestDesktopAutoAnswer(t *testing.T) {
	desktopNeedChromium(t)
	_, a, url := desktopPlatform(t, []desktopAgent{
		{ID: "auto-a", Token: "auto-a-token", AutoAnswer: &desktopAutoAnswer{After: "10s", CanReject: true}},
		{ID: "auto-b", Token: "auto-b-token", AutoAnswer: &desktopAutoAnswer{After: "60s", CanReject: false}},
	})
	b := startDesktopBrowser(t)
	ta, tb := b.tab(t, "auto-a"), b.tab(t, "auto-b")
	countdown := regexp.MustCompile(`^Accept \(\d\d:\d\d\)$`)

	ta.login(t, url, "auto-a", "auto-a-token", "")
	ta.goReady(t)
	desktopCallback(t, a, "+14155550171", "Order status", "Grace Hopper", map[string]string{"order": "B-2"})
	ta.waitJS(t, "the preview, focused", `document.activeElement?.matches(`+desktopJS(desktopPreview)+`)`)
	accept := `document.querySelector(` + desktopJS(desktopPreview+` [data-action="accept"]`) + `).textContent`
	first := desktopEval[string](t, ta, accept)
	if !countdown.MatchString(first) {
		t.Fatalf("Accept reads %q, want a countdown such as Accept (00:09)", first)
	}
	ta.waitJS(t, "the countdown moving on from "+first, accept+` !== `+desktopJS(first))
	if second := desktopEval[string](t, ta, accept); !countdown.MatchString(second) || second >= first {
		t.Fatalf("Accept read %q, then %q", first, second)
	}
	ta.button(t, desktopPreview, "Reject")
	ta.screenshot(t, desktopPreview, "preview-auto-answer.png")
	// Nobody clicks: the platform accepts at zero.
	ta.waitJS(t, "the window opened by auto-answer", desktopStatusIs(desktopWindow, "Ready to Call"))
	ta.waitJS(t, "the preview gone", `!document.querySelector(`+desktopJS(desktopPreview)+`)`)

	// auto-b may not reject: no Reject; Accept long before zero.
	tb.login(t, url, "auto-b", "auto-b-token", "")
	tb.goReady(t)
	// The same contact again, about something else: the first callback is
	// still in progress with auto-a.
	desktopCallbackFor(t, a, "billing", "+14155550171", "Invoice copy", "Grace Hopper", nil)
	tb.waitJS(t, "the preview, focused", `document.activeElement?.matches(`+desktopJS(desktopPreview)+`)`)
	bs, err := tb.buttons(tb.ctx, desktopPreview)
	if err != nil {
		t.Fatal(err)
	}
	for _, btn := range bs {
		if btn.Name == "Reject" {
			t.Errorf("Reject offered to an agent who may not reject: %+v", bs)
		}
	}
	tb.press(t, desktopPreview, countdown.MatchString, "Accept (mm:ss)")
	tb.waitJS(t, "the window", desktopStatusIs(desktopWindow, "Ready to Call"))

	// The matrices: the contact's other interaction is in progress, and
	// recent; the recent one opens the contact history.
	tb.waitJS(t, "the in-progress matrix", `document.querySelector(`+desktopJS(desktopWindow+` [data-field="in-progress"]`)+`).textContent === '1 in progress'`)
	tb.press(t, desktopWindow, func(n string) bool { return strings.HasPrefix(n, "1 recent interaction") }, "the recent interactions matrix")
	tb.waitJS(t, "the contact history", `document.querySelector(`+desktopJS(desktopWindow+` [data-field="history"] table`)+`)?.innerText.includes('Order status')`)
	tb.screenshot(t, desktopWindow, "interaction-window-history.png")

	// Case Information is editable; a URL typed in becomes a link.
	caseInfo := desktopWindow + ` dl[data-field="case"]`
	tb.pressNamed(t, desktopWindow, "Edit Case Information")
	tb.fill(t, desktopWindow+` input[name="new-key"]`, "tracking")
	tb.fill(t, desktopWindow+` input[name="new-value"]`, "https://track.example/T-1")
	tb.pressNamed(t, desktopWindow, "Save Case Information")
	tb.waitJS(t, "the new field shown as a link", `document.querySelector(`+desktopJS(caseInfo+` a[href="https://track.example/T-1"]`)+`)?.target === '_blank'`)

	// Reschedule to the time the picker offers (an hour from now).
	if status := tb.answer(t, desktopWindow, "Reschedule", "/reschedule"); status/100 != 2 {
		t.Errorf("Reschedule: the platform answered %d: %s", status, desktopEval[string](t, tb, `document.querySelector('#problem-text').textContent`))
	} else {
		tb.waitJS(t, "Rescheduled for shown", `!document.querySelector(`+desktopJS(desktopWindow+` [data-field="rescheduled"]`)+`).hidden`)
	}
	ta.noExceptions(t)
	tb.noExceptions(t)
}

// desktopPair logs two agents in, Ready, each in a browser context of
// their own, watching their previews.
func desktopPair(t *testing.T, url string, ids ...string) []*desktopTab {
	t.Helper()
	b := startDesktopBrowser(t)
	var tabs []*desktopTab
	for _, id := range ids {
		tab := b.tab(t, id)
		tab.login(t, url, id, id+"-token", "")
		tab.watchPreviews(t)
		tab.goReady(t)
		tabs = append(tabs, tab)
	}
	return tabs
}

// offered waits until one of the tabs shows a preview and returns it, the
// other tab and the interaction.
func desktopOffered(t *testing.T, tabs []*desktopTab) (*desktopTab, *desktopTab, string) {
	t.Helper()
	deadline := time.Now().Add(desktopWait)
	for time.Now().Before(deadline) {
		for i, tab := range tabs {
			id := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(desktopPreview)+`)?.dataset.interaction ?? ''`)
			if id != "" {
				return tab, tabs[1-i], id
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no preview in either desktop")
	return nil, nil, ""
}

func desktopLogHas(id, op string) string {
	return `window.previewLog.includes(` + desktopJS(op+":"+id) + `)`
}

// TestDesktopRejectRedirects: Reject in one agent's browser sends the
// callback to the other agent's.
func TestDesktopRejectRedirects(t *testing.T) {
	desktopNeedChromium(t)
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "rita", Token: "rita-token"}, {ID: "ravi", Token: "ravi-token"}})
	tabs := desktopPair(t, url, "rita", "ravi")
	desktopCallback(t, a, "+14155550181", "Refund", "Edsger Dijkstra", map[string]string{"ticket": "R-9"})
	first, second, ix := desktopOffered(t, tabs)

	first.pressNamed(t, desktopPreview, "Reject")
	first.waitJS(t, "the preview gone after Reject", `!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	second.waitJS(t, "the rejected callback offered here", desktopLogHas(ix, "add"))
	second.waitJS(t, "the preview focused", `document.activeElement?.dataset?.interaction === `+desktopJS(ix))
	second.pressNamed(t, desktopPreview, "Accept")
	second.waitJS(t, "the window", desktopStatusIs(desktopWindow, "Ready to Call"))
	if got := desktopEval[string](t, second, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`); got != ix {
		t.Fatalf("%s holds %s, want %s", second.name, got, ix)
	}
	if desktopEval[bool](t, first, `!!document.querySelector(`+desktopJS(desktopWindow)+`)`) {
		t.Errorf("%s has an interaction window after Reject", first.name)
	}
	first.noExceptions(t)
	second.noExceptions(t)
}

// TestDesktopOfferTimeout: a preview nobody answers times out and is
// redirected to the other agent's browser; a cancelled callback leaves
// both desktops.
func TestDesktopOfferTimeout(t *testing.T) {
	desktopNeedChromium(t)
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "tom", Token: "tom-token"}, {ID: "tia", Token: "tia-token"}},
		"--router.offer-timeout=2s")
	tabs := desktopPair(t, url, "tom", "tia")
	r := a.do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550191",
		"subject": "Quote", "contact_name": "Barbara Liskov"})
	var cb struct {
		SelfService struct{ Token string } `json:"self_service"`
	}
	r.decode(t, &cb)
	if r.Status != 201 || cb.SelfService.Token == "" {
		t.Fatalf("create callback with its self-service link: %d %s", r.Status, r.Body)
	}
	first, second, ix := desktopOffered(t, tabs)

	first.waitJS(t, "the preview withdrawn at the timeout", desktopLogHas(ix, "remove"))
	second.waitJS(t, "the timed-out callback offered here", desktopLogHas(ix, "add"))

	// The visitor cancels through their link: whoever shows the preview
	// lets go of it.
	if r := a.do("DELETE", "/v1/self/"+cb.SelfService.Token, nil); r.Status != 200 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	for _, tab := range tabs {
		tab.waitJS(t, "no preview after the cancel", `!document.querySelector(`+desktopJS(desktopPreview)+`)`)
		tab.noExceptions(t)
	}
}
