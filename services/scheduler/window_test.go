package scheduler_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/servicetest"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

func TestCallingWindowFlag(t *testing.T) {
	var c scheduler.Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if c.CallingWindow != "08:00-21:00" {
		t.Fatalf("default calling window %q", c.CallingWindow)
	}
	for _, ok := range []string{"00:00-24:00", "off", "09:00-20:00;sales=08:00-21:00", "*=08:00-20:00; vip=10:00-18:00"} {
		c.CallingWindow = ok
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"21:00-08:00", "sales=9-5", "=08:00-21:00", "a=08:00-21:00;a=09:00-20:00"} {
		c.CallingWindow = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "scheduler.calling-window") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestCallingWindowMovesANightRequest(t *testing.T) {
	// servicetest.Start is 09:00 UTC: 01:00 in Los Angeles.
	env, _ := newEnv(t, scheduler.Config{CallingWindow: "08:00-21:00"})
	id := uuid.NewString()
	r := &callbackv1.CallbackRequest{Service: "support", PhoneNumber: "+14155550100", RequestedAt: timestamppb.New(env.Clock.Now())}
	env.Append("intake-callback-"+id, "request:"+id, &callbackv1.CallbackRequested{CallbackId: id, Request: r})
	sch := servicetest.WaitEvent[*callbackv1.CallbackScheduled](env, schedule.Stream(id))
	la, _ := time.LoadLocation("America/Los_Angeles")
	if sch.MovedByWindow == nil || sch.DueAt.AsTime().In(la).Hour() != 8 || !strings.Contains(sch.MovedByWindow.Reason, "America/Los_Angeles") {
		t.Fatalf("scheduled %v", sch)
	}
	if got := types(env, schedule.Stream(id)); got != "CallbackScheduled" {
		t.Fatalf("night callback: %s", got)
	}
}
