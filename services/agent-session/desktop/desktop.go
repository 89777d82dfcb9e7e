// Package desktop is the agent desktop: the Workspace web page an agent logs
// in to, goes Ready on web callback with, and handles callbacks in (the
// Interaction Preview, then the Web Callback interaction window). It is plain
// HTML, CSS and JavaScript modules embedded in the binary: no build step, no
// npm. The page talks only to the platform's public HTTP API
// (api/openapi.yaml) and the agent's event stream, from the same origin.
//
// It owns static files only and must not import the rest of agent-session.
package desktop

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is where Handler serves the desktop.
const Prefix = "/agent/"

// SupervisorPrefix is where Supervisor serves the supervisor's page (issue
// 14): its files sit in static/supervisor/, and it shares the desktop's
// look (desktop.css, served under Prefix).
const SupervisorPrefix = "/supervisor/"

//go:embed static
var static embed.FS

// policy keeps the page to its own origin: scripts and styles only from
// these files (no inline code), fetches and the event stream only to the
// API, and no framing (clickjacking). Links in case information open in a
// new window and are not loaded by the page.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the desktop under /agent/: /agent/ is the page, the other
// files sit beside it. It answers GET and HEAD only; mount it on "GET /agent/"
// (ServeMux redirects /agent to /agent/).
func Handler() http.Handler { return serve(Prefix, "") }

// Supervisor serves the supervisor's page under /supervisor/; mount it on
// "GET /supervisor/".
func Supervisor() http.Handler { return serve(SupervisorPrefix, "supervisor/") }

// serve answers the files under dir of the embed at prefix.
func serve(prefix, dir string) http.Handler {
	files := map[string]file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		files[strings.TrimPrefix(p, "static/")] = file{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("desktop: embedded files: " + err.Error()) // the embed is fixed at build time
	}
	// Module scripts must be served as JavaScript whatever the host's MIME
	// table says, or the browser refuses them.
	for name, f := range files {
		switch path.Ext(name) {
		case ".js":
			f.ctype = "text/javascript; charset=utf-8"
		case ".css":
			f.ctype = "text/css; charset=utf-8"
		case ".html":
			f.ctype = "text/html; charset=utf-8"
		}
		files[name] = f
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name == "" {
			name = "index.html"
		}
		name = dir + name
		f, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("Content-Security-Policy", policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change with the binary: revalidate each time, cheaply.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}
