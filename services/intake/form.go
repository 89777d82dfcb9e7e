package intake

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/serviceconf"
)

// The visitor's pages, plain HTML, CSS and JavaScript embedded in the
// binary (no build step, as the agent desktop): the form a site links to
// or frames (/callback?service=...), the page of a self-service link
// (/callback/manage#<token>) and button.js, which one <script> tag puts on
// any page as a "Call me back" button opening the form (README).

//go:embed web
var web embed.FS

var formPage = template.Must(template.ParseFS(web, "web/form.html"))

// Content security: scripts and styles only from our files, fetches only
// to our API. The form may be framed by any site (that is what button.js
// does); the manage page, which acts on a callback, by none.
const (
	formPolicy   = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors *"
	managePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// asset is an embedded file with its type and tag.
type asset struct {
	body        []byte
	ctype, etag string
}

var assets = func() map[string]asset {
	out := map[string]asset{}
	for _, name := range []string{"form.css", "form.js", "manage.js", "slots.js", "button.js", "manage.html"} {
		b, err := web.ReadFile("web/" + name)
		if err != nil {
			panic("intake: embedded " + name + ": " + err.Error()) // fixed at build time
		}
		sum := sha256.Sum256(b)
		ctype := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
			".html": "text/html; charset=utf-8"}[path.Ext(name)]
		out[name] = asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}()

func (s *Service) webRoutes() []agentauth.Route {
	return []agentauth.Route{
		{Pattern: "GET /callback", Roles: agentauth.Everyone, Handle: s.form},
		{Pattern: "GET " + ManagePath, Roles: agentauth.Everyone, Handle: s.manage},
		{Pattern: "GET /callback/button.js", Roles: agentauth.Everyone, Handle: func(w http.ResponseWriter, r *http.Request) error {
			// Any site may load it: it only draws a button and a frame.
			w.Header().Set("Access-Control-Allow-Origin", "*")
			return serveAsset(w, r, "button.js")
		}},
		{Pattern: "GET /callback/assets/{file}", Roles: agentauth.Everyone, Handle: func(w http.ResponseWriter, r *http.Request) error {
			return serveAsset(w, r, r.PathValue("file"))
		}},
	}
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) error {
	a, ok := assets[name]
	if !ok || strings.HasSuffix(name, ".html") {
		return httpx.NotFound("no file " + name)
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	return nil
}

// formData is what the form page is rendered with.
type formData struct {
	Service string
	Consent string
	// ASAP: "as soon as possible" is offered: the service is open now, or
	// has no slots to book (no capacity), so now is the only choice.
	ASAP  bool
	Slots bool // the service has bookable slots (capacity)
}

// form serves the web form for ?service= (support by default).
func (s *Service) form(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("service")
	if name == "" {
		name = "support"
	}
	if !serviceconf.ServiceName.MatchString(name) {
		return httpx.BadField("service", "a service is lower-case letters, digits and dashes, at most 63")
	}
	if err := s.knownService(name); err != nil {
		return err // a form that could only be refused
	}
	svc := s.cfg.ServiceSet.Of(name)
	slots := svc.Capacity != nil && svc.Capacity.Bucket > 0
	d := formData{Service: name, Consent: svc.Consent, Slots: slots, ASAP: !slots || svc.Hours.Open(s.deps.Clock.Now())}
	if d.Consent == "" {
		d.Consent = s.cfg.Consent
	}
	if d.Consent == "" {
		d.Consent = DefaultConsent
	}
	var b bytes.Buffer
	if err := formPage.Execute(&b, d); err != nil {
		return err
	}
	pageHeaders(w, formPolicy)
	_, _ = w.Write(b.Bytes())
	return nil
}

// manage serves the page of a self-service link; its token stays in the
// fragment, so it reaches no server log and no Referer.
func (s *Service) manage(w http.ResponseWriter, r *http.Request) error {
	pageHeaders(w, managePolicy)
	_, _ = w.Write(assets["manage.html"].body)
	return nil
}

func pageHeaders(w http.ResponseWriter, policy string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", policy)
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
}
