package mediagateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// neverDial fails the test if the gateway hands it a call.
type neverDial struct{ t *testing.T }

func (d neverDial) Dial(_ context.Context, id, _, _ string, _ func(telephony.Progress)) (telephony.Call, error) {
	d.t.Errorf("call %s reached the SIP adapter", id)
	return nil, context.Canceled
}

func (neverDial) ContactAddress(number string) string { return "sip:" + number + "@trunk.invalid" }

func (d neverDial) DialContactFirst(ctx context.Context, id, a, n string, r func(telephony.Progress)) (telephony.Call, error) {
	return d.Dial(ctx, id, a, n, r)
}

// TestDialPlanRefusesBeforeTheAdapter: a number the configured plan does not
// allow (here a US number where only GB is) never reaches the SIP adapter;
// the attempt fails as an invalid number with the dial plan's reason.
func TestDialPlanRefusesBeforeTheAdapter(t *testing.T) {
	env := servicetest.New(t)
	svc, err := mediagateway.New(mediagateway.Config{Trunk: "127.0.0.1:9", DialCountries: "GB",
		AgentRingTimeout: time.Second, ContactRingTimeout: time.Second},
		mediagateway.Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry}, Dialer: neverDial{t}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(svc.Run)
	deadline := time.Now().Add(10 * time.Second)
	for env.Bus.Groups(envelope.TopicOf("agent")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not subscribed to the agent topic")
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.Relay()
	env.Append("agent-interaction-i1", "dial-1", &agentv1.DialRequested{CallId: "k1", InteractionId: "i1", AgentId: "a1",
		AgentPhoneUri: "sip:a1@127.0.0.1:5070", PhoneNumber: "+14155550123", Service: "support"})
	failed := servicetest.WaitEvent[*mediav1.DialFailed](env, "media-call-k1")
	if failed.Outcome != mediav1.Outcome_OUTCOME_INVALID_NUMBER || !strings.Contains(failed.Reason, "country") ||
		strings.Contains(failed.Reason, "4155550123") {
		t.Fatalf("DialFailed %+v, want an invalid number refused for its country, without the number", failed)
	}
}

func TestConfigRefusesPremiumTypes(t *testing.T) {
	c := mediagateway.Config{Trunk: "127.0.0.1:5080", AgentRingTimeout: time.Second, ContactRingTimeout: time.Second,
		DialTypes: "premium-rate"}
	if err := c.Validate(); err == nil {
		t.Fatal("a dial plan allowing premium-rate numbers validated")
	}
}

func TestConfigRefusesAPortOutOfRange(t *testing.T) {
	c := mediagateway.Config{Trunk: "127.0.0.1:5080", AgentRingTimeout: time.Second, ContactRingTimeout: time.Second,
		Phone: mediagateway.PhoneConfig{Port: 70000}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--media.webrtc-port") {
		t.Fatalf("--media.webrtc-port 70000: %v, want an error naming the flag", err)
	}
}
