package agentsession

import (
	"net/http"

	"github.com/ringback/ringback/libs/httpx"
)

// who is the agent a request acts as (see agentauth.Directory.Who): ""
// when the platform runs open.
func (s *Service) who(w http.ResponseWriter, r *http.Request) (string, error) {
	return s.agents.Who(w, r)
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
