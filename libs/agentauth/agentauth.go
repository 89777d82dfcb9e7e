// Package agentauth is the directory of agents: who they are, their bearer
// tokens (kept as SHA-256 only), their skills and auto-answer setting, read
// from the agents file. Every service with agent-facing routes asks it who a
// request acts as. It must not import a service.
package agentauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/httpx"
)

// AgentConfig is one agent as the agents file describes them.
//
// The file (--agents) is JSON:
//
//	{"agents": [
//	  {"id": "a1", "name": "Ann", "token_sha256": "<hex sha-256 of the bearer token>",
//	   "skills": {"billing": 5, "english": 8},
//	   "auto_answer": {"after": "10s", "can_reject": true}},
//	  {"id": "s1", "name": "Sam", "token_sha256": "…", "supervisor": true}
//	]}
//
// "token" (the bearer token in clear) is accepted instead of "token_sha256"
// for development. Skills are levels 1 to 10. Without auto_answer the agent
// accepts or rejects each preview; with it, the preview counts down and
// accepts by itself, and Reject shows only when can_reject is true.
// "supervisor": true marks a supervisor (issue 16), until a role model
// (single sign-on) replaces the flag: a supervisor may end a callback an
// agent is handling, which a visitor may no longer cancel.
type AgentConfig struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Token       string           `json:"token"`
	TokenSHA256 string           `json:"token_sha256"`
	Skills      map[string]int32 `json:"skills"`
	AutoAnswer  *AutoAnswer      `json:"auto_answer"`
	Supervisor  bool             `json:"supervisor"`
	hash        [sha256.Size]byte
}

// AutoAnswer is an agent's auto-answer setting.
type AutoAnswer struct {
	After     Duration `json:"after"`
	CanReject bool     `json:"can_reject"`
}

// Duration is a duration written as "10s" in JSON.
type Duration struct{ time.Duration }

// UnmarshalJSON reads "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Directory is the parsed agents file: who may act, and how. A nil
// Directory is an open platform: no token is checked (development, demo).
type Directory struct {
	byID map[string]*AgentConfig
}

var agentID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Load reads the agents file; an empty path is an open platform (nil).
func Load(path string) (*Directory, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agents file: %w", err)
	}
	var doc struct {
		Agents []*AgentConfig `json:"agents"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("agents file %s: %w", path, err)
	}
	f := &Directory{byID: map[string]*AgentConfig{}}
	for i, a := range doc.Agents {
		switch {
		case !agentID.MatchString(a.ID):
			return nil, fmt.Errorf("agents file %s: agent %d: bad id %q", path, i, a.ID)
		case f.byID[a.ID] != nil:
			return nil, fmt.Errorf("agents file %s: agent %s twice", path, a.ID)
		case a.Token == "" && a.TokenSHA256 == "":
			return nil, fmt.Errorf("agents file %s: agent %s has no token", path, a.ID)
		case a.AutoAnswer != nil && a.AutoAnswer.After.Duration <= 0:
			return nil, fmt.Errorf("agents file %s: agent %s: auto_answer.after must be positive", path, a.ID)
		}
		for skill, level := range a.Skills {
			if level < 1 || level > 10 {
				return nil, fmt.Errorf("agents file %s: agent %s: skill %s level %d not in 1..10", path, a.ID, skill, level)
			}
		}
		if a.TokenSHA256 != "" {
			h, err := hex.DecodeString(a.TokenSHA256)
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf("agents file %s: agent %s: token_sha256 is not a hex SHA-256", path, a.ID)
			}
			copy(a.hash[:], h)
		} else {
			a.hash = sha256.Sum256([]byte(a.Token))
		}
		a.Token = "" // only the hash stays in memory
		f.byID[a.ID] = a
	}
	return f, nil
}

// identify returns the agent a bearer token belongs to. Every agent's hash
// is compared, so the time taken does not tell which agents exist.
func (f *Directory) identify(token string) (*AgentConfig, bool) {
	h := sha256.Sum256([]byte(token))
	var found *AgentConfig
	for _, a := range f.byID {
		if subtle.ConstantTimeCompare(h[:], a.hash[:]) == 1 {
			found = a
		}
	}
	return found, found != nil
}

// Get returns an agent's configuration, or nil (also on a nil Directory).
func (f *Directory) Get(id string) *AgentConfig {
	if f == nil {
		return nil
	}
	return f.byID[id]
}

// IsSupervisor says whether agent id is a supervisor (false on an open
// platform: nobody is).
func (f *Directory) IsSupervisor(id string) bool {
	a := f.Get(id)
	return a != nil && a.Supervisor
}

// SkillLevels returns the agent's skills (nil-safe).
func (a *AgentConfig) SkillLevels() map[string]int32 {
	if a == nil {
		return nil
	}
	return a.Skills
}

// AutoAnswerSetting returns the agent's auto-answer, or nil (nil-safe).
func (a *AgentConfig) AutoAnswerSetting() *AutoAnswer {
	if a == nil {
		return nil
	}
	return a.AutoAnswer
}

// Who is the agent a request acts as: the agent whose bearer token it
// carries (a GET may carry it as ?access_token=, since EventSource cannot
// set headers). On an open platform (nil Directory) it is "" and no error.
// A missing or unknown token is a 401 problem.
func (f *Directory) Who(w http.ResponseWriter, r *http.Request) (string, error) {
	if f == nil {
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
	a, found := f.identify(token)
	if !found {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ringback", error="invalid_token"`)
		return "", httpx.Unauthorized("unknown token")
	}
	return a.ID, nil
}

// bearer is the agent of the request's bearer token, if it has a valid one.
func (f *Directory) bearer(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return "", false
	}
	a, found := f.identify(token)
	if !found {
		return "", false
	}
	return a.ID, true
}
