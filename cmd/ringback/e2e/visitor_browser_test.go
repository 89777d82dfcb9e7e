package e2e

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// visitorZone is the browser's time zone in the visitor tests: an offset
// of half an hour, so a slot shown in the server's zone (UTC) or the
// wrong one cannot pass for it.
const visitorZone = "America/St_Johns"

// TestVisitorPagesInChromium (issue 12 points 3 and 5): one platform, one
// browser. The form lists the service's open slots in the browser's zone,
// shows the API's error at the field it names, books a slot and shows the
// self-service link; the link's page moves the callback to another slot
// and cancels it; a tampered link shows the error; one <script> tag on a
// plain page of another origin adds the button that opens the form in a
// dialog, keyboard first. axe-core finds no critical or serious violation
// in any of these states.
func TestVisitorPagesInChromium(t *testing.T) {
	desktopNeedChromium(t)
	services := filepath.Join(t.TempDir(), "services.yaml")
	// support asks for a proof of work (the form must solve it to book);
	// tiny takes one request an hour (the form shows the 429's wait).
	if err := os.WriteFile(services, []byte("services:\n  support:\n    capacity: {bucket: 30m, per_bucket: 2}\n    book_ahead: 3d\n"+
		"    proof_of_work: 8\n  tiny:\n    rate_limit: 1/1h:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--services", services)
	b := startDesktopBrowser(t)
	zone, err := time.LoadLocation(visitorZone)
	if err != nil {
		t.Fatal(err)
	}
	tab := visitorTab(t, b, "visitor")

	// The slots the scheduler offers a visitor of that zone.
	var avail struct {
		Slots []struct {
			Start time.Time `json:"start"`
			Free  int       `json:"free"`
		} `json:"slots"`
	}
	visitorGet(t, p.URL+"/v1/services/support/availability?timezone="+visitorZone, &avail)
	if len(avail.Slots) < 3 {
		t.Fatalf("availability: %d slots", len(avail.Slots))
	}

	// The form: slots in the visitor's zone.
	tab.do(t, "open the form", chromedp.Navigate(p.URL+"/callback?service=support"))
	tab.waitJS(t, "the slots", `document.querySelectorAll('#slots input[name=slot]').length > 0`)
	if z := desktopEval[string](t, tab, `document.getElementById('zone-note').textContent`); !strings.Contains(z, visitorZone) {
		tab.fatal(t, "zone note %q, want %s", z, visitorZone)
	}
	// A whole bucket (the first may have begun): the page shows it at its
	// start in the visitor's zone, under its own day (near the visitor's
	// midnight, the next day's: every day the picker offers is read).
	// It must not begin before the form books it, or the callback is for
	// "now" rather than its start (it failed so at 07:30:36 UTC for the
	// 07:30 bucket): the first that begins two minutes on or later.
	whole := avail.Slots[1].Start
	for _, s := range avail.Slots[1:] {
		if s.Start.After(time.Now().Add(2 * time.Minute)) {
			whole = s.Start
			break
		}
	}
	var shown []struct{ Value, Text string }
	if err := json.Unmarshal([]byte(desktopEval[string](t, tab, `(() => {
		const day = document.getElementById('day'), first = day.value, out = [];
		for (const o of day.options) {
			day.value = o.value;
			day.dispatchEvent(new Event('change'));
			out.push(...[...document.querySelectorAll('#slots label.slot')].map(l =>
				({value: l.querySelector('input').value, text: l.textContent})));
		}
		day.value = first;
		day.dispatchEvent(new Event('change'));
		return JSON.stringify(out);
	})()`)), &shown); err != nil {
		t.Fatal(err)
	}
	var label, wholeValue string
	for _, s := range shown {
		if visitorTime(t, s.Value).Equal(whole) {
			label, wholeValue = s.Text, s.Value
		}
	}
	if want := whole.In(zone).Format("15:04"); !strings.HasPrefix(label, want) {
		tab.fatal(t, "the slot of %s reads %q, want it to start %s in %s; slots shown: %+v", whole.UTC().Format(time.RFC3339), label, want, visitorZone, shown)
	}
	if !desktopEval[bool](t, tab, `document.querySelector('input[name=when][value=asap]') !== null`) {
		tab.fatal(t, "no 'As soon as possible' while the service is open")
	}
	pageAxe(t, tab, "the form")
	t.Logf("the form: %s", tab.screenshot(t, "main", "visitor-form.png"))

	// Consent first, then the API's word on the number, at the field.
	tab.do(t, "choose a slot", chromedp.Click(chromedp.CSS(`input[name=when][value=slot]`)))
	tab.fill(t, "#phone_number", "+999999999")
	tab.pressNamed(t, "#cb", "Call me back")
	tab.waitJS(t, "the consent error", `document.getElementById('consent-error').textContent !== ''`)
	tab.do(t, "consent", chromedp.Click(chromedp.CSS("#consent")))
	tab.pressNamed(t, "#cb", "Call me back")
	tab.waitJS(t, "the number's error", `document.getElementById('phone_number-error').textContent !== ''`)
	if !desktopEval[bool](t, tab, `document.activeElement.id === 'phone_number' && document.getElementById('phone_number').getAttribute('aria-invalid') === 'true'`) {
		tab.fatal(t, "the number's error does not take the focus and mark the field")
	}
	pageAxe(t, tab, "the form with an error")

	// Book the whole bucket read above: its day, then its time.
	slot := wholeValue
	if !desktopEval[bool](t, tab, fmt.Sprintf(`(() => {
		const day = document.getElementById('day');
		for (const o of day.options) {
			day.value = o.value;
			day.dispatchEvent(new Event('change'));
			if (document.querySelector('#slots input[value="%s"]')) return true;
		}
		return false;
	})()`, slot)) {
		tab.fatal(t, "no day of the picker offers %s", slot)
	}
	tab.do(t, "pick the slot", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#slots input[value="%s"]`, slot))))
	tab.fill(t, "#phone_number", "+14155550123")
	tab.fill(t, "#contact_name", "Ada Lovelace")
	tab.pressNamed(t, "#cb", "Call me back")
	tab.waitJS(t, "the confirmation", `!document.getElementById('done').hidden`)
	link := desktopEval[string](t, tab, `document.getElementById('done-link').href`)
	if !strings.HasPrefix(link, p.URL+"/callback/manage#") {
		tab.fatal(t, "the link is %q", link)
	}
	token := link[strings.Index(link, "#")+1:]
	self := visitorSelf(t, p.URL, token)
	if self.DesiredTime == nil || !self.DesiredTime.Equal(visitorTime(t, slot)) || self.PhoneNumber != "+14155550123" || self.ContactName != "Ada Lovelace" {
		t.Fatalf("booked %+v, want the slot %s", self, slot)
	}
	pageAxe(t, tab, "the confirmation")
	// The form solved the service's proof of work: without one, a create is refused.
	if res, err := http.Post(p.URL+"/v1/callbacks", "application/json", strings.NewReader(`{"service":"support","phone_number":"+14155550177"}`)); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a create without the proof of work: %d, want 403", res.StatusCode)
	}

	// Too many requests: the form says how long to wait (Retry-After).
	for i, number := range []string{"+14155550181", "+14155550182"} {
		tab.do(t, "open tiny's form", chromedp.Navigate(p.URL+"/callback?service=tiny"))
		tab.fill(t, "#phone_number", number)
		tab.do(t, "consent", chromedp.Click(chromedp.CSS("#consent")))
		tab.pressNamed(t, "#cb", "Call me back")
		if i == 0 {
			tab.waitJS(t, "the first request accepted", `!document.getElementById('done').hidden`)
		}
	}
	tab.waitJS(t, "the wait", `!document.getElementById('problem').hidden`)
	if msg := desktopEval[string](t, tab, `document.getElementById('problem').textContent`); !strings.Contains(msg, "try again in 60 minutes") {
		tab.fatal(t, "after the limit the form says %q, want the wait of its Retry-After", msg)
	}
	pageAxe(t, tab, "the form refused for too many requests")

	// The link's page: move it to a slot of another day, then cancel it.
	tab.do(t, "open the link", chromedp.Navigate(link))
	tab.waitJS(t, "the callback and the slots", `!document.getElementById('details').hidden && document.querySelectorAll('#slots input[name=slot]').length > 0`)
	if got := desktopEval[string](t, tab, `document.getElementById('f-phone').textContent`); got != "+14155550123" {
		tab.fatal(t, "the page shows number %q", got)
	}
	// Open now: the page offers "as soon as possible" (not taken here: the
	// callback would be offered at once, and this one is cancelled below).
	if !desktopEval[bool](t, tab, `!document.getElementById('asap').hidden`) {
		tab.fatal(t, "no 'Call me as soon as possible' while the service is open")
	}
	pageAxe(t, tab, "the link's page")
	t.Logf("the link's page: %s", tab.screenshot(t, "main", "visitor-manage.png"))
	desktopEval[chromedp.Void](t, tab, `(() => { const d = document.getElementById('day'); d.selectedIndex = 1; d.dispatchEvent(new Event('change')); })()`)
	moveTo := desktopEval[string](t, tab, `document.querySelectorAll('#slots input[name=slot]')[0].value`)
	tab.do(t, "pick the new slot", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#slots input[value="%s"]`, moveTo))))
	tab.pressNamed(t, "#move", "Move my callback")
	tab.waitJS(t, "moved", `!document.getElementById('notice').hidden`)
	if self := visitorSelf(t, p.URL, token); self.DesiredTime == nil || !self.DesiredTime.Equal(visitorTime(t, moveTo)) {
		t.Fatalf("after the move: %+v, want %s", self, moveTo)
	}
	pageAxe(t, tab, "the link's page after a move")
	tab.pressNamed(t, "#cancel", "Cancel my callback")
	tab.pressNamed(t, "#cancel", "Yes, cancel it")
	tab.waitJS(t, "cancelled", `document.getElementById('f-state').textContent === 'Cancelled'`)
	if self := visitorSelf(t, p.URL, token); self.State != "CANCELLED" {
		t.Fatalf("after the cancel: %+v", self)
	}
	pageAxe(t, tab, "the link's page after the cancel")

	// A tampered link.
	bad := []byte(token)
	bad[len(bad)-3] ^= 1
	tab.do(t, "leave", chromedp.Navigate("about:blank")) // a fragment change alone loads nothing
	tab.do(t, "open a tampered link", chromedp.Navigate(p.URL+"/callback/manage#"+string(bad)))
	tab.do(t, "the error", chromedp.WaitVisible(chromedp.CSS("#problem"))) // survives the page's context changing under it
	if msg := desktopEval[string](t, tab, `document.getElementById('problem').textContent`); !strings.Contains(msg, "not valid") {
		tab.fatal(t, "tampered link says %q", msg)
	}
	pageAxe(t, tab, "a tampered link")

	// The button on a plain page of another origin.
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>A shop</title></head><body><main><h1>A shop</h1>`+
			`<p><a href="#top">Our products</a></p></main>`+
			`<script src="%s/callback/button.js" data-service="support" async></script></body></html>`, p.URL)
	}))
	t.Cleanup(site.Close)
	tab.do(t, "open the shop", chromedp.Navigate(site.URL))
	tab.waitJS(t, "the button", `document.querySelector('.ringback-callback-button') !== null`)
	pageAxe(t, tab, "a page with the button")
	tab.do(t, "focus the button", chromedp.Focus(chromedp.CSS(".ringback-callback-button")))
	tab.do(t, "open with the keyboard", chromedp.KeyEvent(kb.Enter))
	tab.waitJS(t, "the dialog", `document.querySelector('dialog.ringback-callback-dialog').open`)
	if !desktopEval[bool](t, tab, `document.querySelector('dialog.ringback-callback-dialog').contains(document.activeElement)`) {
		tab.fatal(t, "focus is not in the dialog")
	}
	want := p.URL + "/callback?service=support"
	visitorWaitFrame(t, tab, want)
	tab.waitJS(t, "the form up in the dialog", `document.querySelector('dialog.ringback-callback-dialog iframe').dataset.ready === 'true'`)
	pageAxe(t, tab, "the button's dialog")
	tab.do(t, "Escape", chromedp.KeyEvent(kb.Escape))
	tab.waitJS(t, "the dialog closed", `!document.querySelector('dialog.ringback-callback-dialog').open`)
	if !desktopEval[bool](t, tab, `document.activeElement === document.querySelector('.ringback-callback-button')`) {
		tab.fatal(t, "focus not given back to the button after Escape")
	}
	tab.pressNamed(t, "body", "Call me back")
	tab.waitJS(t, "the dialog again", `document.querySelector('dialog.ringback-callback-dialog').open`)
	tab.pressNamed(t, "dialog", "Close the callback form")
	tab.waitJS(t, "closed by its button", `!document.querySelector('dialog.ringback-callback-dialog').open && document.activeElement === document.querySelector('.ringback-callback-button')`)
	tab.noExceptions(t)
}

// visitorTab is a tab whose browser lives in visitorZone, in British English
// (24-hour times the test can read).
func visitorTab(t *testing.T, b *desktopBrowser, name string) *desktopTab {
	t.Helper()
	tab := b.tab(t, name)
	if _, err := chromedp.Call(tab.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: visitorZone}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab.ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en_GB"}); err != nil {
		t.Fatal(err)
	}
	return tab
}

// visitorWaitFrame waits for the page's frame to have navigated to url.
func visitorWaitFrame(t *testing.T, tab *desktopTab, url string) {
	t.Helper()
	deadline := time.Now().Add(desktopWait)
	var seen []string
	for time.Now().Before(deadline) {
		tree, err := chromedp.Call(tab.ctx, page.GetFrameTree, struct{}{})
		if err == nil && tree.FrameTree != nil {
			seen = seen[:0]
			for _, c := range tree.FrameTree.ChildFrames {
				seen = append(seen, c.Frame.URL)
				if c.Frame.URL == url {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tab.fatal(t, "no frame of %s; frames: %v", url, seen)
}

type visitorSelfView struct {
	State       string     `json:"state"`
	PhoneNumber string     `json:"phone_number"`
	ContactName string     `json:"contact_name"`
	DesiredTime *time.Time `json:"desired_time"`
}

func visitorSelf(t *testing.T, base, token string) visitorSelfView {
	t.Helper()
	var v visitorSelfView
	visitorGet(t, base+"/v1/self/"+token, &v)
	return v
}

func visitorGet(t *testing.T, url string, out any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func visitorTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("slot value %q: %v", s, err)
	}
	return at
}
