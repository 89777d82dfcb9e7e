package agentsession

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// AgentConfig is one agent as the agents file describes them.
//
// The file (--agent-session.agents) is JSON:
//
//	{"agents": [
//	  {"id": "a1", "name": "Ann", "token_sha256": "<hex sha-256 of the bearer token>",
//	   "skills": {"billing": 5, "english": 8},
//	   "auto_answer": {"after": "10s", "can_reject": true}}
//	]}
//
// "token" (the bearer token in clear) is accepted instead of "token_sha256"
// for development. Skills are levels 1 to 10. Without auto_answer the agent
// accepts or rejects each preview; with it, the preview counts down and
// accepts by itself, and Reject shows only when can_reject is true.
type AgentConfig struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Token       string           `json:"token"`
	TokenSHA256 string           `json:"token_sha256"`
	Skills      map[string]int32 `json:"skills"`
	AutoAnswer  *AutoAnswer      `json:"auto_answer"`
	hash        [sha256.Size]byte
}

// AutoAnswer is an agent's auto-answer setting.
type AutoAnswer struct {
	After     duration `json:"after"`
	CanReject bool     `json:"can_reject"`
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalJSON(b []byte) error {
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

// agentsFile is the parsed agents file: who may act, and how.
type agentsFile struct {
	byID map[string]*AgentConfig
}

func loadAgents(path string) (*agentsFile, error) {
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
	f := &agentsFile{byID: map[string]*AgentConfig{}}
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
func (f *agentsFile) identify(token string) (*AgentConfig, bool) {
	h := sha256.Sum256([]byte(token))
	var found *AgentConfig
	for _, a := range f.byID {
		if subtle.ConstantTimeCompare(h[:], a.hash[:]) == 1 {
			found = a
		}
	}
	return found, found != nil
}

func (f *agentsFile) get(id string) *AgentConfig {
	if f == nil {
		return nil
	}
	return f.byID[id]
}

func (a *AgentConfig) skills() map[string]int32 {
	if a == nil {
		return nil
	}
	return a.Skills
}

func (a *AgentConfig) autoAnswer() *AutoAnswer {
	if a == nil {
		return nil
	}
	return a.AutoAnswer
}
