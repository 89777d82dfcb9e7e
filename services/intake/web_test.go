package intake

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/serviceconf"
)

func fetchPage(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestPagesAreServed: the form (rendered for its service, with the consent
// text and the choices of when), the manage page, button.js and the
// assets, each with its type and policy. The pages themselves are tested
// in Chromium (cmd/ringback/e2e/visitor_browser_test.go).
func TestPagesAreServed(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey, Consent: `Call me about <this> & that`})
	res, body := fetchPage(t, env.Server.URL+"/callback?service=sales")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") ||
		res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("form: %d %v", res.StatusCode, res.Header)
	}
	for _, want := range []string{`data-service="sales"`, `Call me about &lt;this&gt; &amp; that`, `value="asap"`, `type="checkbox" id="consent"`} {
		if !strings.Contains(body, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	if res, _ := fetchPage(t, env.Server.URL+"/callback?service=Bad%20Name"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("form of a bad service name: %d", res.StatusCode)
	}
	known := startLinks(t, Config{Services: []string{"support"}})
	if res, _ := fetchPage(t, known.Server.URL+"/callback?service=nope"); res.StatusCode != http.StatusNotFound {
		t.Errorf("form of an unknown service: %d, want 404", res.StatusCode)
	}
	if res, body := fetchPage(t, known.Server.URL+"/callback"); res.StatusCode != 200 || !strings.Contains(body, `data-service="support"`) {
		t.Errorf("form of the default service: %d", res.StatusCode)
	}
	res, body = fetchPage(t, env.Server.URL+ManagePath)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		res.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(body, "manage.js") {
		t.Fatalf("manage page: %d %v", res.StatusCode, res.Header)
	}
	for path, ctype := range map[string]string{"/callback/button.js": "text/javascript", "/callback/assets/form.js": "text/javascript",
		"/callback/assets/slots.js": "text/javascript", "/callback/assets/manage.js": "text/javascript", "/callback/assets/form.css": "text/css"} {
		if res, body := fetchPage(t, env.Server.URL+path); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("%s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/callback/assets/nothing.js", "/callback/assets/manage.html", "/callback/assets/..%2fform.go"} {
		if res, _ := fetchPage(t, env.Server.URL+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, res.StatusCode)
		}
	}
}

// A service's own consent text (its services file entry) is the one its
// form shows; a service without one shows the binary's.
func TestTheFormShowsItsServicesConsent(t *testing.T) {
	set, err := serviceconf.Parse([]byte(`services:
  "*": {}
  sales: {consent: "Sales may call me about <my quote>."}
  support: {}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := startLinks(t, Config{ServiceSet: set, Consent: "The binary's text."})
	if _, body := fetchPage(t, env.Server.URL+"/callback?service=sales"); !strings.Contains(body, "Sales may call me about &lt;my quote&gt;.") {
		t.Errorf("sales form lacks its consent text")
	}
	if _, body := fetchPage(t, env.Server.URL+"/callback?service=support"); !strings.Contains(body, "The binary&#39;s text.") {
		t.Errorf("support form lacks the binary's consent text")
	}
}
