package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/ringback/ringback/libs/siptest"
)

// TestDesktopNothingTypedIsLost (issue 15): a note typed and never saved,
// and a case edit never saved, are kept as the agent types: a reload of the
// page shows them; the agent adds to the note and clicks Done at once,
// before the pause that would send it; the whole note is in the contact
// history and the audit trail. On the way, axe-core checks the desktop in
// every state the agent passes through (login, Not Ready, Ready, the
// preview, the interaction window, connected, held, wrap-up) and the small
// things of the issue are checked where they show.
func TestDesktopNothingTypedIsLost(t *testing.T) {
	desktopNeedChromium(t)
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "nia", Name: "Nia", Token: "nia-token"}},
		"--sip-trunk", contact.Addr, "--agent-session.after-call-work", "10m")
	tab := startDesktopBrowser(t).tab(t, "nia")

	tab.do(t, "open the desktop", chromedp.Navigate(url))
	tab.waitJS(t, "the login form", `!document.querySelector('#login').hidden`)
	pageAxe(t, tab, "the login")
	tab.login(t, url, "nia", "nia-token", "sip:nia@"+phone.Addr)
	pageAxe(t, tab, "Not Ready")
	tab.goReady(t)
	idle := `document.querySelector('#idle').textContent`
	tab.waitJS(t, "Ready said with no interaction", idle+`.startsWith('Ready. Waiting')`)
	pageAxe(t, tab, "Ready")

	const number = "+14155550163"
	desktopCallback(t, a, number, "Refund", "Grace Hopper",
		map[string]string{"order": "A-17", "crm": "See [Order A-17](https://crm.example/orders/A-17) first"})
	tab.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	pageAxe(t, tab, "the preview")
	tab.pressNamed(t, desktopPreview, "Accept")
	tab.waitJS(t, "the interaction window, Ready to Call", desktopStatusIs(desktopWindow, "Ready to Call"))
	ix := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	win := fmt.Sprintf(`%s[data-interaction=%q]`, desktopWindow, ix)
	pageAxe(t, tab, "the interaction window")
	// Of any impact: no element carries a role it may not have (the party
	// form was a group).
	ctx, cancel := context.WithTimeout(tab.ctx, desktopWait)
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`axe.run(document, {runOnly: ['aria-allowed-role']}).then(r =>
		r.violations.flatMap(v => v.nodes.map(n => n.target.join(' '))))`, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil || len(bad) > 0 {
		t.Errorf("roles not allowed at %v (%v)", bad, err)
	}
	tab.waitJS(t, "the Reason list disabled while Busy", `document.querySelector('#channel-state').textContent === 'Busy' &&
		document.querySelector('#not-ready-reason').disabled`)

	// Anchor text is a link, and hovering it shows its card: the words,
	// the site it leads to, the address.
	link := win + ` dl.case a[href="https://crm.example/orders/A-17"]`
	if got := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(link)+`)?.firstChild?.textContent ?? ''`); got != "Order A-17" {
		t.Fatalf("the anchor text link reads %q, want Order A-17", got)
	}
	box := desktopEval[map[string]float64](t, tab, `(() => { const r = document.querySelector(`+desktopJS(link)+`).getBoundingClientRect();
		return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`)
	tab.do(t, "hover the link", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box["x"], box["y"]))
	card := `document.querySelector(` + desktopJS(link) + ` + '+ .link-card')`
	tab.waitJS(t, "the link's card shown", `getComputedStyle(`+card+`).display !== 'none'`)
	tab.screenshot(t, win+" .columns", "link-card.png")
	if text := desktopEval[string](t, tab, card+`.innerText`); !strings.Contains(text, "Order A-17") || !strings.Contains(text, "crm.example") ||
		!strings.Contains(text, "https://crm.example/orders/A-17") {
		t.Errorf("the link's card reads %q", text)
	}
	if desc := desktopEval[string](t, tab, `document.getElementById(document.querySelector(`+desktopJS(link)+`).getAttribute('aria-describedby')).textContent`); !strings.Contains(desc, "crm.example") {
		t.Errorf("the link is described by %q", desc)
	}
	tab.do(t, "move away", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 5, 5))
	// The reschedule picker says whose time it is, and the contact's.
	if z := desktopEval[string](t, tab, desktopField(win, "reschedule-contact")); !strings.HasPrefix(z, "For the contact: ") || !strings.Contains(z, "America/") {
		t.Errorf("the reschedule picker says %q of the contact's time", z)
	}
	if z := desktopEval[string](t, tab, desktopField(win, "my-zone")); !strings.HasPrefix(z, "your time, ") {
		t.Errorf("the reschedule picker's zone reads %q", z)
	}

	// Typed, never saved: a note and a case edit.
	note := "Wants a refund of A-17"
	textarea := win + ` textarea[name="text"]`
	tab.fill(t, textarea, note)
	tab.pressNamed(t, win, "Edit Case Information")
	order := win + ` [data-field="case-inputs"] input[data-key="order"]`
	tab.fill(t, order, "A-18")
	var kept struct {
		Draft *struct {
			Note        string            `json:"note"`
			CaseEditing bool              `json:"case_editing"`
			CaseData    map[string]string `json:"case_data"`
		} `json:"draft"`
	}
	a.eventually("/v1/interactions/"+ix+"?access_token=nia-token", &kept, "the draft kept", func() bool {
		return kept.Draft != nil && kept.Draft.Note == note && kept.Draft.CaseEditing && kept.Draft.CaseData["order"] == "A-18"
	})
	tab.waitJS(t, "the draft said kept", desktopField(win, "draft-state")+`.startsWith('Draft kept')`)

	// A reload shows both.
	tab.do(t, "reload the page", chromedp.Reload())
	tab.waitJS(t, "the window again", desktopStatusIs(win, "Ready to Call"))
	tab.waitJS(t, "the note as typed", `document.querySelector(`+desktopJS(textarea)+`).value === `+desktopJS(note))
	tab.waitJS(t, "the case edit as typed", `document.querySelector(`+desktopJS(order)+`)?.value === 'A-18'`)
	pageAxe(t, tab, "the interaction window after a reload, editing the case information")
	tab.screenshot(t, "body", "draft-after-reload.png")

	tab.pressNamed(t, win, "Call this contact")
	tab.waitJS(t, "Connected", desktopStatusIs(win, "Connected"))
	pageAxe(t, tab, "connected")
	tab.pressNamed(t, win, "Hold")
	tab.waitJS(t, "On Hold", desktopStatusIs(win, "On Hold"))
	pageAxe(t, tab, "held")
	tab.pressNamed(t, win, "Retrieve")
	tab.waitJS(t, "Connected again", desktopStatusIs(win, "Connected"))
	tab.pressNamed(t, win, "End Call")
	tab.waitJS(t, "Ready to Call after End Call", desktopStatusIs(win, "Ready to Call"))

	hint := desktopField(win, "disposition-required")
	tab.waitJS(t, "the disposition reminder", hint+` === 'Required before Done.'`)
	sel := win + ` [data-field="disposition"]`
	tab.do(t, "focus the Disposition Code list", chromedp.Focus(chromedp.CSS(sel)))
	tab.do(t, "choose Resolved", chromedp.KeyEvent("Resolved"))
	tab.waitJS(t, "the reminder gone once a code is chosen", `document.querySelector(`+desktopJS(sel)+`).value === 'resolved' && `+hint+` === ''`)
	pageAxe(t, tab, "wrap-up in the window")

	// More words, and Done at once: Done sends them first.
	tab.do(t, "type more", chromedp.SendKeys(chromedp.CSS(textarea), "; sent a form"))
	tab.pressNamed(t, win, "Done")
	tab.waitJS(t, "the window closed", `!document.querySelector(`+desktopJS(win)+`)`)
	tab.waitJS(t, "After Call Work said", `document.querySelector('#channel-state').textContent === 'After Call Work' && `+
		idle+`.startsWith('After Call Work.')`)
	if p := desktopEval[string](t, tab, `document.querySelector('#problem-text').textContent`); p != "" {
		t.Errorf("a problem is shown after Done: %s", p)
	}
	pageAxe(t, tab, "wrap-up (After Call Work)")

	full := note + "; sent a form"
	var history []struct {
		InteractionID string `json:"interaction_id"`
		Notes         []struct{ Text string }
	}
	a.eventually("/v1/contacts/"+number+"/history?access_token=nia-token", &history, "the note in the contact's history", func() bool {
		return len(history) > 0 && history[0].InteractionID == ix && len(history[0].Notes) == 1 && history[0].Notes[0].Text == full
	})
	var trail []struct{ Type string }
	a.eventually("/v1/interactions/"+ix+"/events?access_token=nia-token", &trail, "the filed draft in the audit trail", func() bool {
		return hasInOrder(trail, "CallEnded", "DraftFiled", "InteractionDone")
	})
	for _, e := range trail {
		if e.Type == "DraftSaved" {
			t.Errorf("a draft saved as the agent typed is in the audit trail: %v", trail)
			break
		}
	}

	// A reload after Done: still After Call Work, no window, no draft.
	tab.do(t, "reload the page", chromedp.Reload())
	tab.waitJS(t, "After Call Work after the reload", `document.querySelector('#channel-state').textContent === 'After Call Work'`)
	if n := desktopEval[int](t, tab, `document.querySelectorAll('#interactions .window').length`); n != 0 {
		t.Errorf("%d windows after Done and a reload", n)
	}
	tab.noExceptions(t)
}
