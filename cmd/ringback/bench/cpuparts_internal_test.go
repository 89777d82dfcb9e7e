package bench

import (
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

func TestPartOf(t *testing.T) {
	for _, c := range []struct {
		stack []string // leaf first
		want  string
	}{
		{[]string{"runtime.mallocgc", "github.com/ringback/ringback/libs/personal.(*Sealer).seal",
			"github.com/ringback/ringback/services/history.(*Service).record", "github.com/ringback/ringback/libs/inbox.(*workers).work"}, "history"},
		{[]string{"github.com/ringback/ringback/services/media-gateway/sip.(*dial).invite"}, "media-gateway"},
		{[]string{"github.com/ringback/ringback/services/agent-session.(*hub).publish", "github.com/ringback/ringback/libs/readmodel.(*Projection).Run.func2"}, "agent-session"},
		{[]string{"syscall.Fdatasync", "github.com/ringback/ringback/libs/eventstore/embedded.(*Store).commit",
			"github.com/ringback/ringback/libs/eventstore/embedded.(*Store).run"}, "store writer (appends, fdatasync)"},
		{[]string{"google.golang.org/protobuf/proto.Unmarshal", "github.com/ringback/ringback/libs/readmodel.(*Projection).Run.func2"}, "read models and subscriptions"},
		{[]string{"github.com/ThreeDotsLabs/watermill/message.(*handler).handleMessage"}, "bus (delivery, middleware)"},
		{[]string{"runtime.futex", "runtime.findRunnable", "runtime.schedule"}, "runtime and the rest (scheduler, timers, syscalls)"},
	} {
		if got := partOf(c.stack); got != c.want {
			t.Errorf("partOf(%v) = %q, want %q", c.stack, got, c.want)
		}
	}
}

// TestCPUParts: shares are of the CPU samples' values, fdatasync counted
// apart wherever it is on the stack.
func TestCPUParts(t *testing.T) {
	fn := func(name string) *profile.Location {
		return &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: name}}}}
	}
	writer, sync := fn("github.com/ringback/ringback/libs/eventstore/embedded.(*Store).run"), fn("syscall.Fdatasync")
	history := fn("github.com/ringback/ringback/services/history.(*Service).handle")
	prof := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{sync, writer}, Value: []int64{1, 30}},
			{Location: []*profile.Location{writer}, Value: []int64{1, 10}},
			{Location: []*profile.Location{history}, Value: []int64{1, 60}},
		},
	}
	parts, syncs := cpuParts(prof)
	want := []part{{"history", 0.6}, {"store writer (appends, fdatasync)", 0.4}}
	if len(parts) != len(want) {
		t.Fatalf("parts = %+v, want %+v", parts, want)
	}
	for i := range want {
		if parts[i].name != want[i].name || math.Abs(parts[i].share-want[i].share) > 1e-9 {
			t.Errorf("part %d = %+v, want %+v", i, parts[i], want[i])
		}
	}
	if math.Abs(syncs-0.3) > 1e-9 {
		t.Errorf("fdatasync share = %v, want 0.3", syncs)
	}
}
