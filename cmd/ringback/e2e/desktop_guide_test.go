package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ringback/ringback/libs/siptest"
)

// The guide's missing pieces (issue 15): the Standard Response Library,
// the Team Communicator and the contact record, in the interaction window.

const guideServices = `services:
  "*":
    responses:
      - {name: Greeting, text: "Hello, this is the contact center returning your call.", tags: [opening]}
  support:
    responses:
      - {name: Refund policy, text: "Refunds are paid to the original card within 14 days.", tags: [billing, refund]}
  sales: {}
`

// guidePlatform starts ringback with the guide's services file and these
// agents.
func guidePlatform(t *testing.T, agents []desktopAgent, args ...string) (*proc, api, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services.yaml")
	if err := os.WriteFile(path, []byte(guideServices), 0o644); err != nil {
		t.Fatal(err)
	}
	return desktopPlatform(t, agents, append([]string{"--services", path}, args...)...)
}

// guideAccepted logs agent id in, makes them Ready, has a callback offered
// to them and accepted: the window, Ready to Call, and its selector.
func guideAccepted(t *testing.T, a api, tab *desktopTab, url, id, phone, number string) string {
	t.Helper()
	tab.login(t, url, id, id+"-token", phone)
	tab.goReady(t)
	desktopCallback(t, a, number, "Refund", "Alan Turing", map[string]string{"order": "A-17"})
	tab.waitJS(t, "the preview", `!!document.querySelector(`+desktopJS(desktopPreview)+`)`)
	tab.pressNamed(t, desktopPreview, "Accept")
	tab.waitJS(t, "the interaction window, Ready to Call", desktopStatusIs(desktopWindow, "Ready to Call"))
	ix := desktopEval[string](t, tab, `document.querySelector(`+desktopJS(desktopWindow)+`).dataset.interaction`)
	return fmt.Sprintf(`%s[data-interaction=%q]`, desktopWindow, ix)
}

// TestDesktopStandardResponseInserted: the Responses panel lists the
// service's standard responses (the "*" entry's and support's own),
// searches them, shows one, and inserts it into the note at the cursor;
// the note saved holds it, in the contact's history too.
func TestDesktopStandardResponseInserted(t *testing.T) {
	desktopNeedChromium(t)
	_, a, url := guidePlatform(t, []desktopAgent{{ID: "g1", Name: "Grace One", Token: "g1-token"}})
	b := startDesktopBrowser(t)
	tab := b.tab(t, "g1")
	const number = "+14155550171"
	win := guideAccepted(t, a, tab, url, "g1", "", number)
	panel := win + ` [data-field="responses"]`
	items := `document.querySelectorAll(` + desktopJS(panel+` li`) + `)`
	tab.waitJS(t, "both responses of support", items+`.length === 2`)
	if names := desktopEval[string](t, tab, `[...`+items+`].map(li => li.dataset.response).join('|')`); names != "Greeting|Refund policy" {
		t.Errorf("responses listed: %q", names)
	}
	pageAxe(t, tab, "the Responses panel")

	// The agent writes the start of the note, then searches.
	note := win + ` [data-form="note"] textarea`
	tab.fill(t, note, "Told the contact:")
	tab.fill(t, panel+` input[type="search"]`, "refund")
	tab.waitJS(t, "the search's one answer", items+`.length === 1 && `+items+`[0].dataset.response === 'Refund policy'`)
	tab.pressNamed(t, panel, "View Refund policy")
	text := `document.querySelector(` + desktopJS(panel+` .response-text`) + `)`
	tab.waitJS(t, "the response's text shown", `!`+text+`.hidden && `+text+`.textContent.includes('14 days')`)
	pageAxe(t, tab, "a standard response viewed")

	tab.pressNamed(t, panel, "Insert into note: Refund policy")
	const want = "Told the contact: Refunds are paid to the original card within 14 days."
	value := `document.querySelector(` + desktopJS(note) + `).value`
	tab.waitJS(t, "the response in the note", value+` === `+desktopJS(want))
	if focused := desktopEval[bool](t, tab, `document.activeElement === document.querySelector(`+desktopJS(note)+`)`); !focused {
		t.Error("the focus is not back in the note after the insert")
	}
	tab.pressNamed(t, win, "Save Note")
	tab.waitJS(t, "the note saved", desktopField(win, "notes")+`.includes('within 14 days')`)
	var rows []struct {
		Notes []struct{ Text string }
	}
	a.eventually("/v1/contacts/%2B"+number[1:]+"/history?access_token=g1-token", &rows, "the note in the history", func() bool {
		return len(rows) == 1 && len(rows[0].Notes) == 1 && rows[0].Notes[0].Text == want
	})
	tab.noExceptions(t)
}

// TestDesktopTeamCommunicatorConsult: the Team Communicator finds the
// other agent by name with their state and the service with its Ready
// agent; Consult from the result rings that agent's phone over SIP and
// makes them Busy, as the free-text box did.
func TestDesktopTeamCommunicatorConsult(t *testing.T) {
	desktopNeedChromium(t)
	siptest.Sipp(t)
	phone1 := siptest.StartUAS(t, siptest.AnswerHold)
	phone2 := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	_, a, url := guidePlatform(t, []desktopAgent{{ID: "g1", Name: "Grace One", Token: "g1-token"}, {ID: "g2", Name: "Gus Two", Token: "g2-token"}},
		"--sip-trunk", contact.Addr, "--media.trunk-keepalive", "0")
	b := startDesktopBrowser(t)
	d1, d2 := b.tab(t, "g1"), b.tab(t, "g2")
	d2.login(t, url, "g2", "g2-token", "sip:g2@"+phone2.Addr)
	win := guideAccepted(t, a, d1, url, "g1", "sip:g1@"+phone1.Addr, "+14155550172")
	d1.pressNamed(t, win, "Call this contact")
	d1.waitJS(t, "Connected", desktopStatusIs(win, "Connected"))

	team := win + ` [data-field="team"]`
	rows := `document.querySelectorAll(` + desktopJS(team+` li`) + `)`
	row := func(kind, key string) string {
		return `document.querySelector(` + desktopJS(fmt.Sprintf(`%s li[data-team=%q][data-key=%q]`, team, kind, key)) + `)`
	}
	// g2 is Not Ready: found by name, but not to be consulted.
	d1.fill(t, win+` [data-field="party-target"]`, "gus")
	d1.waitJS(t, "g2 found, Not Ready", row("agent", "g2")+`?.textContent.includes('Not Ready')`)
	if b := d1.button(t, team, "Consult Gus Two (g2)"); !b.Disabled {
		t.Error("Consult enabled for an agent who is Not Ready")
	}
	// Ready now: the result says so as the store has it.
	d2.goReady(t)
	d1.fill(t, win+` [data-field="party-target"]`, "gus")
	// The results of "gus" alone: while the field is typed, those of "g"
	// (everyone) show g2 Ready too, and counting them failed once in CI.
	d1.waitJS(t, "g2 alone found for gus, Ready", rows+`.length === 1 && `+
		row("agent", "g2")+`?.querySelector('.team-state').textContent === 'Ready'`)
	// The services: support with g2 Ready for it.
	d1.fill(t, win+` [data-field="party-target"]`, "sup")
	d1.waitJS(t, "support with g2 Ready", row("service", "support")+`?.textContent.includes('1 agent Ready, next: g2')`)
	pageAxe(t, d1, "the Team Communicator's results")

	// Keyboard: from the search, down to the first result, and Consult.
	d1.fill(t, win+` [data-field="party-target"]`, "gus two")
	d1.waitJS(t, "g2 alone", rows+`.length === 1 && !!`+row("agent", "g2"))
	d1.do(t, "arrow down", chromedp.KeyEvent(kb.ArrowDown))
	if name := desktopEval[string](t, d1, `document.activeElement.getAttribute('aria-label') || ''`); name != "Consult Gus Two (g2)" {
		t.Fatalf("the focus after arrow down is on %q, want Consult Gus Two (g2)", name)
	}
	d1.do(t, "Consult with Enter", chromedp.KeyEvent(kb.Enter))
	d1.waitJS(t, "consulting g2, the contact On Hold",
		desktopFieldIs(win, "party", "Consulting g2")+` && `+desktopStatusIs(win, "On Hold"))
	d1.waitJS(t, "the results closed", `document.querySelector(`+desktopJS(team)+`).hidden`)
	phone2.WaitReceived(t, "INVITE", 1)
	desktopAgentBecomes(t, a, "g2", "g2-token", "BUSY")
	d2.waitJS(t, "g2's desktop Busy while consulted", `document.querySelector('#channel-state').textContent === 'Busy'`)
	d1.noExceptions(t)
}

// TestDesktopContactRecordEdited: the contact's record shows the name the
// visitor gave and the callback; the agent corrects the name and adds an
// e-mail; a bad address is refused naming the field and changes nothing.
func TestDesktopContactRecordEdited(t *testing.T) {
	desktopNeedChromium(t)
	_, a, url := guidePlatform(t, []desktopAgent{{ID: "g1", Name: "Grace One", Token: "g1-token"}})
	b := startDesktopBrowser(t)
	tab := b.tab(t, "g1")
	const number = "+14155550173"
	win := guideAccepted(t, a, tab, url, "g1", "", number)
	panel := win + ` [data-field="contact-record"]`
	dd := func(name string) string {
		return `document.querySelector(` + desktopJS(panel+` [data-contact="`+name+`"]`) + `).textContent`
	}
	tab.pressNamed(t, panel, "Show contact record")
	tab.waitJS(t, "the record with its callback", dd("name")+` === 'Alan Turing' && `+
		`document.querySelectorAll(`+desktopJS(panel+` tbody tr`)+`).length === 1`)
	pageAxe(t, tab, "the contact record")

	tab.fill(t, panel+` input[name="name"]`, "Alan M. Turing")
	tab.fill(t, panel+` input[name="email"]`, "alan at example")
	tab.pressNamed(t, panel, "Save Contact")
	problem := `document.querySelector('#problem-text').textContent`
	tab.waitJS(t, "the bad e-mail refused", problem+`.includes('(email)')`)
	if focused := desktopEval[string](t, tab, `document.activeElement.name`); focused != "email" {
		t.Errorf("the focus is on %q after the refusal, want the e-mail", focused)
	}
	var rec struct {
		Name  *string
		Email *string
	}
	path := "/v1/contacts/%2B" + number[1:] + "/record?access_token=g1-token"
	if r := a.do("GET", path, nil); r.Status != 200 {
		t.Fatalf("GET the record: %d %s", r.Status, r.Body)
	} else if r.decode(t, &rec); rec.Name != nil || rec.Email != nil {
		t.Fatalf("the refused edit changed the record: %+v", rec)
	}

	tab.fill(t, panel+` input[name="email"]`, "alan@example.com")
	tab.pressNamed(t, panel, "Save Contact")
	tab.waitJS(t, "the record saved", dd("name")+` === 'Alan M. Turing' && `+dd("email")+` === 'alan@example.com' && `+
		dd("edited")+`.includes('by g1')`)
	a.eventually(path, &rec, "the record stored", func() bool {
		return rec.Name != nil && *rec.Name == "Alan M. Turing" && rec.Email != nil && *rec.Email == "alan@example.com"
	})
	// The corrected name is the one the window calls the contact by, in
	// the Callback Information and its title, at once and after a reload.
	named := func(what string) {
		tab.waitJS(t, what, desktopFieldIs(win, "contact", "Alan M. Turing")+` && `+
			desktopFieldIs(win, "title", "Web Callback: Alan M. Turing"))
	}
	named("the corrected name in the Callback Information")
	pageAxe(t, tab, "the contact record edited")
	tab.do(t, "reload the page", chromedp.Reload())
	named("the corrected name after a reload")
	tab.noExceptions(t)
}
