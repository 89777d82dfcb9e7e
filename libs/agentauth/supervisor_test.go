package agentauth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ringback/ringback/libs/agentauth"
)

func TestSupervisorFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agents.json")
	if err := os.WriteFile(path, []byte(`{"agents":[{"id":"a1","token":"t1"},{"id":"s1","token":"t2","supervisor":true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := agentauth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.IsSupervisor("a1") || !d.IsSupervisor("s1") || d.IsSupervisor("nobody") {
		t.Fatal("supervisor flag misread")
	}
	var open *agentauth.Directory
	if open.IsSupervisor("s1") {
		t.Fatal("a supervisor on an open platform")
	}
}
