package agentauth

import "testing"

// TestValidID: an agent's stream is agent-<id>; an id that would name an
// interaction's stream (agent-interaction-<id>) is not one (issue 13).
func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a1": true, "demo-agent-1": true, "ann.lee_2": true, "interactions": true,
		"interaction-x": false, "interaction-": false, "": false, "-a": false, "a b": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
