package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ringback/ringback/libs/siptest"
)

// TestVisitorMovesAnOfferedCallbackInChromium: the link's page of a
// callback that is being offered to an agent. With --intake.move-wait at
// 1 ms the move is answered 202 before the router decides, so the page
// says the change is on its way, asks again, and says "moved" once the
// router withdrew the offer and the scheduler moved it. A page opened
// before an agent accepted another callback says why it was not moved and
// shows the agent calling. axe-core in each state.
func TestVisitorMovesAnOfferedCallbackInChromium(t *testing.T) {
	desktopNeedChromium(t)
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.Answer)
	services := filepath.Join(t.TempDir(), "services.yaml")
	if err := os.WriteFile(services, []byte("services:\n  support:\n    capacity: {bucket: 30m, per_bucket: 2}\n    book_ahead: 3d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--sip-trunk", phone.Addr,
		"--services", services, "--intake.move-wait", "1ms")
	a := api{t: t, route: func(string, string) string { return p.URL }}
	a.do("POST", "/v1/agents/v1/session", map[string]string{"phone_uri": "sip:v1@" + phone.Addr})
	a.do("PUT", "/v1/agents/v1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("v1")
	seen := 0
	b := startDesktopBrowser(t)
	tab := visitorTab(t, b, "visitor")
	pickTomorrow := func() {
		tab.waitJS(t, "the callback and the slots", `!document.getElementById('details').hidden && document.querySelectorAll('#slots input[name=slot]').length > 0`)
		desktopEval[chromedp.Void](t, tab, `(() => { const d = document.getElementById('day'); d.selectedIndex = 1; d.dispatchEvent(new Event('change')); })()`)
		tab.do(t, "pick a slot", chromedp.Click(chromedp.CSS(`#slots input[name=slot]`)))
	}

	_, link, _ := offeredCallback(t, a, pushed, &seen, "+14155550161")
	link = p.URL + link
	tab.do(t, "open the link", chromedp.Navigate(link))
	pickTomorrow()
	tab.pressNamed(t, "#move", "Move my callback")
	tab.waitJS(t, "on its way", `document.getElementById('notice').textContent.includes('on its way')`)
	pageAxe(t, tab, "a move on its way")
	tab.waitJS(t, "moved, once the router withdrew the offer", `document.getElementById('notice').textContent.startsWith('Your callback was moved to')`)
	if got := desktopEval[string](t, tab, `document.getElementById('f-state').textContent`); got != "Booked" {
		tab.fatal(t, "after the move the page says %q", got)
	}
	pageAxe(t, tab, "moved")

	_, link, iid := offeredCallback(t, a, pushed, &seen, "+14155550162")
	link = p.URL + link
	tab.do(t, "leave", chromedp.Navigate("about:blank"))
	tab.do(t, "open the other link", chromedp.Navigate(link))
	tab.do(t, "its page", chromedp.WaitVisible(chromedp.CSS("#move"))) // survives the context changing under it
	pickTomorrow()
	if r := a.do("POST", "/v1/interactions/"+iid+"/accept", nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	a.eventually("/v1/self/"+link[strings.Index(link, "#")+1:], &struct{}{}, "intake knows the agent took it", func() bool {
		return visitorSelf(t, p.URL, link[strings.Index(link, "#")+1:]).State == "IN_PROGRESS"
	})
	tab.pressNamed(t, "#move", "Move my callback")
	tab.waitJS(t, "refused", `!document.getElementById('problem').hidden && document.getElementById('problem').textContent.startsWith('Your callback was not moved')`)
	tab.waitJS(t, "the agent calling", `document.getElementById('f-state').textContent === 'An agent is calling you'`)
	pageAxe(t, tab, "a move refused: an agent took it")
	tab.noExceptions(t)
}
