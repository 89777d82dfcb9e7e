package agentsession

import (
	"strings"
	"testing"
)

// The supervisor page's day is the contact center's: a zone is checked
// when the service starts, and a bad one names the flag.
func TestSupervisorZone(t *testing.T) {
	c := Config{CommandWait: 1, CallingWindow: "08:00-21:00", SupervisorZone: "Europe/Paris"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if loc, _ := c.supervisorZone(); loc.String() != "Europe/Paris" {
		t.Fatalf("zone %v", loc)
	}
	c.SupervisorZone = "Mars/Olympus_Mons"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "agent-session.supervisor-zone") {
		t.Fatalf("bad zone: %v", err)
	}
}
