package sip_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// TestPortIsTheServicesDialer drives the gateway through the service's
// port only (telephony): the address the service records is where the
// contact's INVITE went, a connected call is controlled as a
// telephony.Call, and a call that did not connect is no call at all (a nil
// interface, not a nil *Call inside one) with the outcome as the port's.
func TestPortIsTheServicesDialer(t *testing.T) {
	t.Parallel()
	agent := siptest.StartUAS(t, siptest.AnswerHold)
	trunk := siptest.StartUAS(t, siptest.AnswerHold)
	var d telephony.Dialer = sip.Port{Gateway: startGateway(t, trunk.Addr, nil)}
	rec := &recorder{}

	c, err := d.Dial(context.Background(), "call-port", agentURI(agent), number, rec.report)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if got, want := trunk.WaitReceived(t, "INVITE", 1)[0].RequestURI(), d.ContactAddress(number); got != want {
		t.Errorf("the contact's INVITE went to %q; the service records %q", got, want)
	}
	if err := c.Hold(context.Background()); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitClosed(t, c.Ended(), "call ended")
	if got := rec.last(); got.Kind != telephony.Ended || got.End != telephony.EndHangupRequested {
		t.Errorf("last report %v (%v), want ended by the hangup", got.Kind, got.End)
	}

	busy := siptest.StartUAS(t, siptest.Busy)
	d = sip.Port{Gateway: startGateway(t, busy.Addr, nil)}
	c, err = d.Dial(context.Background(), "call-port-busy", agentURI(agent), number, (&recorder{}).report)
	var oe *telephony.OutcomeError
	if !errors.As(err, &oe) || oe.Outcome != telephony.OutcomeBusy {
		t.Fatalf("Dial to a busy contact: %v, want the port's busy outcome", err)
	}
	if c != nil {
		t.Errorf("a call that did not connect is %#v, want nil", c)
	}
}
