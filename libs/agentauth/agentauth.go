// Package agentauth is the authorisation model of ringback (issue 16): the
// directory of who may act (agents with their skills and auto-answer,
// supervisors, API clients, operators; every credential kept as SHA-256
// only, read from the agents file), the single sign-on sessions it signs,
// and the route tables in which every service states, per route, the roles
// that may call it (Route, Register). It must not import a service.
package agentauth

import (
	"encoding/json"
	"fmt"
	"time"
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
// "supervisor": true gives the agent the supervisor role too (issue 16):
// they read everything of "services" (absent: every service) and may end a
// callback an agent is handling, which a visitor may no longer cancel.
// The rest of the file (clients, operators, the session key) is described
// at Load.
type AgentConfig struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Token       string           `json:"token"`
	TokenSHA256 string           `json:"token_sha256"`
	Skills      map[string]int32 `json:"skills"`
	AutoAnswer  *AutoAnswer      `json:"auto_answer"`
	Supervisor  bool             `json:"supervisor"`
	Services    []string         `json:"services"`
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
