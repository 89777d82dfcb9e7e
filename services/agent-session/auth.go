package agentsession

import (
	"net/http"
	"strings"

	"github.com/ringback/ringback/libs/httpx"
)

// who is the agent a request acts as. With an agents file every request
// carries that agent's bearer token (the event stream may carry it as
// ?access_token=, since EventSource cannot set headers); without one the
// platform runs open, for development and the demo, and who is "".
func (s *Service) who(w http.ResponseWriter, r *http.Request) (string, error) {
	if s.agents == nil {
		return "", nil
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodGet {
		token, ok = r.URL.Query().Get("access_token"), true
	}
	if !ok || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ringback"`)
		return "", httpx.Unauthorized("a bearer token is required")
	}
	a, found := s.agents.identify(token)
	if !found {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ringback", error="invalid_token"`)
		return "", httpx.Unauthorized("unknown token")
	}
	return a.ID, nil
}

// self checks that the agent in the path is the one the token names.
func (s *Service) self(w http.ResponseWriter, r *http.Request) (string, error) {
	id, err := pathAgent(r)
	if err != nil {
		return "", err
	}
	who, err := s.who(w, r)
	if err != nil {
		return "", err
	}
	if who != "" && who != id {
		return "", httpx.Forbidden("an agent acts only as themselves")
	}
	return id, nil
}
