package servicetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// AgentsFile writes an agents file (libs/agentauth) naming ids, each with
// the bearer token Token(id), and returns its path.
func AgentsFile(t testing.TB, ids ...string) string {
	t.Helper()
	type agent struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	doc := struct {
		Agents []agent `json:"agents"`
	}{}
	for _, id := range ids {
		doc.Agents = append(doc.Agents, agent{ID: id, Token: Token(id)})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Token is the bearer token AgentsFile gives agent id.
func Token(id string) string { return "token-of-" + id }

// Bearer is the Authorization header of agent id, for DoWith.
func Bearer(id string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + Token(id)}
}
