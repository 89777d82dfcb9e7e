package intake

import (
	_ "embed"
	"net/http"
)

//go:embed form.html
var formHTML []byte

// form serves the small web form a site can link to or copy.
func (s *Service) form(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	_, _ = w.Write(formHTML)
}
