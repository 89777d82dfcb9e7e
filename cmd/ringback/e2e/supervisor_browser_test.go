package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// supervisorCall sends one API request with a bearer token.
func supervisorCall(t *testing.T, base, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestSupervisorPageInChromium (issue 14): a supervisor signs in to
// /supervisor/, sees an agent forced Not Ready from the page, the counts
// move as a callback arrives, is offered and handled, finds it by number,
// opens it, reassigns it to another agent, who alone is offered it, and
// ends it with a reason; an agent's token is refused the page
// and the API (403) and changes nothing; axe-core finds no critical or
// serious violation.
func TestSupervisorPageInChromium(t *testing.T) {
	desktopNeedChromium(t)
	agents := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(agents, []byte(`{"agents": [
		{"id": "ann", "token": "ann-secret-token", "skills": {"support": 5}},
		{"id": "bob", "token": "bob-secret-token", "skills": {"support": 5}},
		{"id": "sue", "token": "sue-secret-token", "supervisor": true, "services": ["support"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--agents", agents)
	a := api{t: t, route: func(string, string) string { return p.URL }}
	const ann, bob, sue = "ann-secret-token", "bob-secret-token", "sue-secret-token"
	for id, token := range map[string]string{"ann": ann, "bob": bob} {
		if st, b := supervisorCall(t, p.URL, "POST", "/v1/agents/"+id+"/session", token, map[string]string{}); st != 200 {
			t.Fatalf("%s logs in: %d %s", id, st, b)
		}
	}
	if st, b := supervisorCall(t, p.URL, "PUT", "/v1/agents/ann/state", ann, map[string]string{"channel": "webcallback", "state": "READY"}); st != 200 {
		t.Fatalf("ann goes Ready: %d %s", st, b)
	}

	// An agent's token: 403 on the board and on the commands, and ann stays Ready.
	for _, c := range []struct{ method, path string }{{"GET", "/v1/supervisor/summary"}, {"GET", "/v1/supervisor/events"},
		{"POST", "/v1/supervisor/agents/ann/not-ready"}, {"POST", "/v1/supervisor/agents/ann/logout"}} {
		if st, b := supervisorCall(t, p.URL, c.method, c.path, ann, map[string]string{"why": "me"}); st != 403 {
			t.Errorf("%s %s with an agent's token: %d %s", c.method, c.path, st, b)
		}
	}
	if _, b := supervisorCall(t, p.URL, "GET", "/v1/agents/ann", ann, nil); !strings.Contains(string(b), `"READY"`) {
		t.Errorf("after the refusals ann is %s", b)
	}

	tab := startDesktopBrowser(t).tab(t, "sue")
	tab.do(t, "open the page", chromedp.Navigate(p.URL+"/supervisor/"))
	tab.waitJS(t, "the sign-in form", `!document.querySelector('#login').hidden`)
	tab.fill(t, "#login-id", "ann")
	tab.fill(t, "#login-token", ann)
	tab.pressNamed(t, "#login", "Sign in")
	tab.waitJS(t, "the agent refused, and told", `document.querySelector('#problem-text').textContent.includes('supervisor')`)
	if !desktopEval[bool](t, tab, `document.querySelector('#board').hidden`) {
		tab.fatal(t, "an agent sees the board")
	}
	pageAxe(t, tab, "the sign-in")
	tab.fill(t, "#login-id", "sue")
	tab.fill(t, "#login-token", sue)
	tab.pressNamed(t, "#login", "Sign in")
	tab.waitJS(t, "the board, live, ann Ready", `!document.querySelector('#board').hidden &&
		document.querySelector('#link').textContent === 'Live' &&
		document.querySelector('#agents tr[data-agent=ann] [data-field=state]')?.textContent === 'Ready' &&
		document.querySelector('#problem-text').textContent === ''`)

	// Force ann Not Ready, saying why: the table shows it, the agent's
	// events keep who and why.
	tab.pressNamed(t, "#agents", "Not Ready: ann")
	tab.waitJS(t, "the dialog", `document.querySelector('#agent-dialog').open`)
	pageAxe(t, tab, "the agent dialog")
	tab.fill(t, "#agent-why", "coaching at 10")
	tab.pressNamed(t, "#agent-dialog", "Confirm")
	tab.waitJS(t, "ann Not Ready", `document.querySelector('#agents tr[data-agent=ann] [data-field=state]').textContent === 'Not Ready'`)

	// A callback arrives: it waits, as ann is Not Ready.
	const number = "+14155550177"
	cb := desktopCallback(t, a, number, "Billing", "Ada Lovelace", nil)
	count := func(field string) string {
		return `document.querySelector('#services tr[data-service=support] [data-field=` + field + `]')?.textContent`
	}
	tab.waitJS(t, "one waiting", count("waiting")+` === '1'`)
	pageAxe(t, tab, "the board")

	// Search by number, open it, reassign it to bob: ann, Ready first, is
	// not offered it; bob, Ready next, is.
	tab.fill(t, "#q-number", number)
	tab.pressNamed(t, "#search-form", "Search")
	tab.pressNamed(t, "#results", "Open callback "+cb)
	tab.waitJS(t, "the callback open", `!document.querySelector('#callback').hidden &&
		document.querySelector('#cb-id').textContent === `+desktopJS(cb)+` &&
		document.querySelector('#cb-facts').textContent.includes('QUEUED') &&
		document.querySelectorAll('#timeline li').length > 0`)
	pageAxe(t, tab, "a callback open")
	desktopEval[bool](t, tab, `(document.querySelector('#reassign-agent').value = 'bob') === 'bob'`)
	tab.fill(t, "#reassign-why", "speaks Basque")
	tab.pressNamed(t, "#reassign-form", "Reassign")
	tab.waitJS(t, "told", `document.querySelector('#announce').textContent.includes('reassigned to bob')`)
	interactions := func(id, token string) []string {
		var me struct{ Interactions []string }
		_, b := supervisorCall(t, p.URL, "GET", "/v1/agents/"+id, token, nil)
		_ = json.Unmarshal(b, &me)
		return me.Interactions
	}
	supervisorCall(t, p.URL, "PUT", "/v1/agents/ann/state", ann, map[string]string{"channel": "webcallback", "state": "READY"})
	time.Sleep(time.Second) // the router would offer it to ann by now, were it not bob's
	if got := interactions("ann", ann); len(got) != 0 {
		t.Fatalf("a callback reassigned to bob was offered to ann: %v", got)
	}
	supervisorCall(t, p.URL, "PUT", "/v1/agents/bob/state", bob, map[string]string{"channel": "webcallback", "state": "READY"})
	tab.waitJS(t, "one offered, none waiting", count("offered")+` === '1' && `+count("waiting")+` === '0'`)
	var offered []string
	for deadline := time.Now().Add(desktopWait); len(offered) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no offer to bob")
		}
		offered = interactions("bob", bob)
	}
	if st, b := supervisorCall(t, p.URL, "POST", "/v1/interactions/"+offered[0]+"/accept", bob, nil); st != 200 && st != 202 {
		t.Fatalf("accept: %d %s", st, b)
	}
	tab.waitJS(t, "one in progress, none offered", count("in_progress")+` === '1' && `+count("offered")+` === '0'`)

	// bob is Busy with it: Not Ready does not cut his call, it waits for
	// its end, and the board says so.
	row := `document.querySelector('#agents tr[data-agent=bob] [data-field=%s]')?.textContent`
	tab.waitJS(t, "bob Busy", fmt.Sprintf(row, "state")+` === 'Busy'`)
	tab.pressNamed(t, "#agents", "Not Ready: bob")
	tab.waitJS(t, "the dialog", `document.querySelector('#agent-dialog').open`)
	tab.fill(t, "#agent-why", "coaching after this call")
	tab.pressNamed(t, "#agent-dialog", "Confirm")
	tab.waitJS(t, "told it waits", `document.querySelector('#announce').textContent.includes('bob will be Not Ready after this call')`)
	tab.waitJS(t, "bob Busy, Not Ready after this call", fmt.Sprintf(row, "state")+` === 'Busy' && `+
		fmt.Sprintf(row, "reason")+`.includes('Not Ready after this call (set by sue)')`)
	pageAxe(t, tab, "an agent Not Ready after this call")

	// End it with a reason, from the callback still open.
	tab.pressNamed(t, "#results", "Open callback "+cb)
	tab.waitJS(t, "the callback in progress", `document.querySelector('#cb-facts').textContent.includes('IN_PROGRESS')`)
	tab.fill(t, "#cancel-why", "duplicate of an earlier call")
	tab.pressNamed(t, "#cancel-form", "Cancel callback")
	tab.waitJS(t, "cancelled, counted today", count("cancelled")+` === '1' && `+count("in_progress")+` === '0'`)
	tab.waitJS(t, "the callback shows it, its timeline to now", `document.querySelector('#cb-facts').textContent.includes('CANCELLED') &&
		document.querySelector('#travel-when').textContent.includes('CallbackCancelled (now)')`)

	// Time travel: the slider's first moment shows the callback as it was
	// just after its request, the events after it dimmed; its last, now.
	slide := func(to string) {
		desktopEval[bool](t, tab, `(() => { const r = document.querySelector('#travel-at'); r.value = `+to+`;
			r.dispatchEvent(new Event('input')); return true })()`)
	}
	tab.waitJS(t, "the slider", `!document.querySelector('#travel').hidden`)
	slide("'0'")
	tab.waitJS(t, "the callback as requested", `['SCHEDULED', 'QUEUED'].includes(document.querySelector('#travel-facts [data-field=callback]')?.textContent) &&
		document.querySelectorAll('#timeline li.later').length === document.querySelectorAll('#timeline li').length - 1`)
	pageAxe(t, tab, "travelling in time")
	slide("document.querySelector('#travel-at').max")
	tab.waitJS(t, "now again", `document.querySelector('#travel-facts [data-field=callback]')?.textContent === 'CANCELLED' &&
		document.querySelectorAll('#timeline li.later').length === 0`)
	tab.noExceptions(t)
	t.Logf("the board: %s", tab.screenshot(t, "#board", "supervisor.png"))
}
