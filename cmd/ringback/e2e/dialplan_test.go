package e2e

import (
	"testing"

	"github.com/ringback/ringback/libs/siptest"
)

// TestContactFirstDialPlan: a service configured contact-first rings the
// contact through the trunk before the agent's phone, and connects them.
func TestContactFirstDialPlan(t *testing.T) {
	siptest.Sipp(t)
	phone := siptest.StartUAS(t, siptest.Answer)
	contact := siptest.StartUAS(t, siptest.Answer)
	p := start(t, "ringback", "--data", t.TempDir(), "--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr,
		"--media.trunk-keepalive", "0", "--media.contact-first", "support")
	a := api{t: t, route: func(string, string) string { return p.URL }}
	walk(t, a, "cf1", phone, contact, outcome{"answered", siptest.Answer, "+14155550111", "Connected", "", "CallConnected"})
	// The contact's INVITE came first: it arrived before the agent phone's.
	first := func(u *siptest.UAS) (at int64) {
		ms, err := u.Received("INVITE")
		if err != nil || len(ms) == 0 {
			t.Fatalf("no INVITE at %s: %v", u.Addr, err)
		}
		return ms[0].Time.UnixNano()
	}
	if first(contact) > first(phone) {
		t.Fatal("the agent's phone was rung before the contact")
	}
}
