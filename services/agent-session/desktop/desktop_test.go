package desktop

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestHandlerServesThePage(t *testing.T) {
	h := Handler()
	res := get(t, h, "GET", "/agent/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /agent/: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<script type="module" src="app.js">`, "Web Callback Interaction Preview", "Call this contact",
		"End Call", "Hold", "Retrieve", "Mute", "Reschedule", "Disposition Code", "Note", "Done", "Case Information",
		"Callback Information", "Agent or number", "Transfer", "Consult", "Complete Transfer", "Conference",
		"End Consultation"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

// Every file the page refers to is served with a type the browser accepts
// for it (module scripts need a JavaScript type).
func TestHandlerServesWhatThePageLoads(t *testing.T) {
	h := Handler()
	page, _ := io.ReadAll(get(t, h, "GET", "/agent/").Body)
	refs := regexp.MustCompile(`(?:src|href)="([a-z]+\.(?:js|css))"`).FindAllStringSubmatch(string(page), -1)
	js, _ := io.ReadAll(get(t, h, "GET", "/agent/app.js").Body)
	refs = append(refs, regexp.MustCompile(`from '\./([a-z]+\.js)'`).FindAllStringSubmatch(string(js), -1)...)
	if len(refs) < 4 {
		t.Fatalf("found only %v", refs)
	}
	for _, m := range refs {
		res := get(t, h, "GET", "/agent/"+m[1])
		ct := res.Header.Get("Content-Type")
		want := "text/javascript"
		if strings.HasSuffix(m[1], ".css") {
			want = "text/css"
		}
		if res.StatusCode != 200 || !strings.HasPrefix(ct, want) {
			t.Errorf("%s: %d %q", m[1], res.StatusCode, ct)
		}
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	h := Handler()
	res := get(t, h, "GET", "/agent/app.js")
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q Cache-Control %q", etag, res.Header.Get("Cache-Control"))
	}
	if res := get(t, h, "GET", "/agent/app.js", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", res.StatusCode)
	}
}

func TestHandlerRefuses(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/agent/nope.js", 404},
		{"GET", "/agent/../desktop.go", 404},
		{"GET", "/agent/static/app.js", 404},
		{"GET", "/elsewhere/app.js", 404},
		{"POST", "/agent/", 405},
		{"HEAD", "/agent/desktop.css", 200},
	} {
		if res := get(t, h, c.method, c.path); res.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.status)
		}
	}
}

// Mounted as agent-session mounts it, /agent leads to the page.
func TestHandlerOnServeMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix, Handler())
	res := get(t, mux, "GET", "/agent")
	if res.StatusCode/100 != 3 || res.Header.Get("Location") != Prefix {
		t.Fatalf("GET /agent: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := get(t, mux, "GET", Prefix); res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", Prefix, res.StatusCode)
	}
	if res := get(t, mux, "HEAD", Prefix+"app.js"); res.StatusCode != 200 {
		t.Fatalf("HEAD app.js: %d", res.StatusCode)
	}
}
