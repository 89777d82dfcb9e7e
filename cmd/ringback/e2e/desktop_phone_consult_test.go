package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDesktopConsultAColleagueOnTheirBrowser: two agents whose phones are
// their browsers (issue 15), each in a Chromium of its own with a fake
// microphone of its own pitch. w1 calls the contact and consults w2: w2's
// page rings, saying who consults them; answered, each hears the other,
// the contact on hold. w1 completes the transfer: w2's Web Callback window
// opens with the call, the contact hears w2's pitch and w2 the contact's,
// and w2 ends the call in the page.
func TestDesktopConsultAColleagueOnTheirBrowser(t *testing.T) {
	desktopNeedChromium(t)
	const w1Hz, w2Hz, contactHz = 1000, 600, 400
	contact := startToneUA(t, contactHz)
	_, a, url := desktopPlatform(t, []desktopAgent{{ID: "w1", Name: "Web One", Token: "w1-token"}, {ID: "w2", Name: "Web Two", Token: "w2-token"}},
		"--sip-trunk", contact.addr, "--media.trunk-keepalive", "0", "--media.webrtc-loopback")
	w1 := startPhoneBrowser(t, toneWAV(t, w1Hz), true).tab(t, "w1")
	w2 := startPhoneBrowser(t, toneWAV(t, w2Hz), true).tab(t, "w2")
	loginBrowserPhone(t, w1, url, "w1", "w1-token")
	loginBrowserPhone(t, w2, url, "w2", "w2-token")
	w1.goReady(t)

	desktopCallback(t, a, "+14155550174", "Browser consult", "Ada Lovelace", nil)
	w1.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	w1.pressNamed(t, desktopPreview, "Accept")
	w1.waitJS(t, "the interaction window", desktopStatusIs(desktopWindow, "Ready to Call"))
	ix := desktopEval[string](t, w1, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	win := desktopWindow + `[data-interaction="` + ix + `"]`
	w2.goReady(t)
	w1.pressNamed(t, win, "Call this contact")
	w1.waitJS(t, "w1's page rings", `window.ringbackPhone.state() === 'ringing'`)
	w1.pressNamed(t, "#browser-phone", "Answer")
	w1.waitJS(t, "Connected", desktopStatusIs(win, "Connected")+` && window.ringbackPhone.state() === 'connected'`)
	waitFor(t, "w1's tone at the contact", func() bool { return contact.hears(w1Hz, 1700) })

	// Consult w2: their page rings, saying who asks.
	w1.fill(t, win+` [data-field="party-target"]`, "w2")
	w1.pressNamed(t, win, "Consult")
	w2.waitJS(t, "w2's page rings for w1's call", `window.ringbackPhone.state() === 'ringing' &&
		document.querySelector('#browser-phone [data-ref="status"]').textContent === 'Ringing: w1 consults you'`)
	pageAxe(t, w2, "a colleague's call ringing the browser")
	w2.pressNamed(t, "#browser-phone", "Answer")
	w2.waitJS(t, "w2 on the call with w1", `window.ringbackPhone.state() === 'connected'`)
	w1.waitJS(t, "consulting w2", desktopFieldIs(win, "party", "Consulting w2"))
	w2.waitJS(t, "w1's pitch in w2's page", `Math.abs(window.ringbackPhone.pitch() - 1000) < 30`)
	w1.waitJS(t, "w2's pitch in w1's page", `Math.abs(window.ringbackPhone.pitch() - 600) < 30`)

	// Complete the transfer: the call is w2's, in their window and their page.
	w1.pressNamed(t, win, "Complete Transfer")
	w2.waitJS(t, "w2's window, Connected", desktopStatusIs(win, "Connected"))
	w1.waitJS(t, "w1's page hung up", `window.ringbackPhone.state() === 'idle'`)
	if st := desktopEval[string](t, w2, `window.ringbackPhone.state()`); st != "connected" {
		t.Fatalf("w2's page after the transfer: %s", st)
	}
	waitFor(t, "w2's tone at the contact", func() bool { return contact.hears(w2Hz, 1700) })
	w2.waitJS(t, "the contact's pitch in w2's page", `Math.abs(window.ringbackPhone.pitch() - 400) < 20`)
	pageAxe(t, w2, "the call transferred in, on the browser")
	if n := contact.ended(); n != 0 {
		t.Fatalf("the contact was hung up by the transfer (%d)", n)
	}

	// A reload keeps w2's call, as for a call of their own.
	w2.do(t, "reload w2's page", chromedp.Reload())
	w2.waitJS(t, "w2's audio back after the reload", `window.ringbackPhone.state() === 'connected'`)
	w2.waitJS(t, "the contact's pitch in w2's page after the reload", `Math.abs(window.ringbackPhone.pitch() - 400) < 20`)

	w2.pressNamed(t, "#browser-phone", "Hang up")
	w2.waitJS(t, "Ready to Call after the hang-up", desktopStatusIs(win, "Ready to Call"))
	waitFor(t, "the contact hung up", func() bool { return contact.ended() == 1 })
	w1.noExceptions(t)
	w2.noExceptions(t)
}
