package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// TestDesktopSaysTheCallbackWasCancelled: a supervisor ends a callback an
// agent has open. The agent's window says so at once, with the
// supervisor's reason, and offers neither Call this contact nor
// Reschedule; the agent chooses a code and clicks Done, and is Ready
// again. Before, the agent learnt it only when Call this contact was
// refused. axe-core in that state.
func TestDesktopSaysTheCallbackWasCancelled(t *testing.T) {
	desktopNeedChromium(t)
	p, a, desk := desktopPlatform(t, []desktopAgent{{ID: "cora", Token: "cora-token"},
		{ID: "sue", Token: "sue-token", Supervisor: true, Services: []string{"support"}}})
	tab := startDesktopBrowser(t).tab(t, "cora")
	tab.login(t, desk, "cora", "cora-token", "sip:cora@127.0.0.1:5999")
	tab.goReady(t)
	cb := desktopCallback(t, a, "+14155550171", "Billing", "Grace Hopper", nil)
	tab.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	tab.pressNamed(t, desktopPreview, "Accept")
	tab.waitJS(t, "the interaction window, Ready to Call", desktopStatusIs(desktopWindow, "Ready to Call"))
	ix := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	win := fmt.Sprintf(`%s[data-interaction=%q]`, desktopWindow, ix)
	banner := desktopJS(win + ` [data-field="cancelled"]`)
	if !desktopEval[bool](t, tab, `document.querySelector(`+banner+`).hidden`) {
		t.Fatal("the cancel banner shows before any cancel")
	}

	req, _ := http.NewRequest("DELETE", p.URL+"/v1/callbacks/"+cb+"?reason="+url.QueryEscape("duplicate request"), nil)
	req.Header.Set("Authorization", "Bearer sue-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the supervisor's cancel: %d %s", res.StatusCode, body)
	}
	tab.waitJS(t, "the window says the callback was cancelled, and why", `(() => { const b = document.querySelector(`+banner+`);
		return !b.hidden && b.getAttribute('role') === 'alert' && b.textContent.startsWith('This callback was cancelled (ended by supervisor sue: duplicate request).') })()`)
	for name, enabled := range map[string]bool{"Call this contact": false, "Reschedule": false, "Done": false, "Save Note": true} {
		if b := tab.button(t, win, name); b.Disabled == enabled {
			t.Errorf("%q: disabled %v once the callback was cancelled", name, b.Disabled)
		}
	}
	pageAxe(t, tab, "the interaction of a cancelled callback")

	sel := win + ` [data-field="disposition"]`
	desktopEval[bool](t, tab, `(() => { const s = document.querySelector(`+desktopJS(sel)+`); s.value = s.options[1].value;
		s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
	tab.waitJS(t, "Done enabled once a code is chosen", `!Array.from(document.querySelectorAll(`+desktopJS(win+` button`)+`)).find(b => b.textContent.trim() === 'Done').disabled`)
	tab.pressNamed(t, win, "Done")
	tab.waitJS(t, "the window closed", `!document.querySelector(`+desktopJS(win)+`)`)
	tab.waitJS(t, "Ready again", `document.querySelector('#channel-state').textContent === 'Ready'`)
	var final struct{ State string }
	a.eventually("/v1/callbacks/"+cb+"?access_token=sue-token", &final, "the callback stays CANCELLED", func() bool {
		return final.State == "CANCELLED"
	})
	tab.noExceptions(t)
}
