package personal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/proto/catalog"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

// benchEvents are events of one callback as the store holds them: the
// request (number, name, subject, case data), a note (by link), a dialog
// (SIP URIs with the number) and history's copy of the request.
func benchEvents(b *testing.B) []struct {
	typ  string
	data []byte
} {
	req, _ := proto.Marshal(requested())
	rec, _ := proto.Marshal(&historyv1.InteractionEventRecorded{CallbackId: "cb-1", EventType: catalog.TypeName(requested()),
		Data: req, PhoneNumber: canaryNumber})
	note, _ := proto.Marshal(&historyv1.NoteAdded{InteractionId: "ix-1", AgentId: "a1", Text: canaryNote})
	dialog, _ := proto.Marshal(&mediav1.CallConnected{CallId: "c1", InteractionId: "ix-1", ContactLeg: &mediav1.LegDialog{
		From: "<sip:ringback@10.0.0.1>;tag=abc", To: "<sip:" + canaryNumber + "@trunk>;tag=def", RemoteTarget: "sip:" + canaryNumber + "@10.0.0.2"}})
	return []struct {
		typ  string
		data []byte
	}{
		{"ringback.callback.v1.CallbackRequested", req},
		{"ringback.history.v1.InteractionEventRecorded", rec},
		{"ringback.history.v1.NoteAdded", note},
		{"ringback.media.v1.CallConnected", dialog},
	}
}

// BenchmarkPersonalPerEvent is the cost of sealing an event before it is
// stored and of opening it after it is read, beside what the store path
// does to every event anyway (decode it, once): make bench prints both.
func BenchmarkPersonalPerEvent(b *testing.B) {
	ctx := context.Background()
	s := newSealer(b)
	evs := benchEvents(b)
	sealed := make([][]byte, len(evs))
	ids := []string{"e0", "e1", "e2", "e3"}
	for i, e := range evs {
		var err error
		if sealed[i], err = s.SealData(ctx, e.typ, e.data, "cb-1"); err != nil {
			b.Fatal(err)
		}
	}
	results := map[string]float64{}
	for _, c := range []struct {
		name string
		fn   func(i int) error
	}{
		{"decode (baseline)", func(i int) error { _, err := catalog.Decode(evs[i].typ, evs[i].data); return err }},
		{"seal", func(i int) error { _, err := s.SealData(ctx, evs[i].typ, evs[i].data, "cb-1"); return err }},
		{"open, first read", func(i int) error { _, _, err := s.openData(ctx, evs[i].typ, sealed[i]); return err }},
		{"open, read again", func(i int) error {
			_, err := s.OpenEvent(ctx, ids[i], evs[i].typ, sealed[i])
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for n := 0; b.Loop(); n++ {
				if err := c.fn(n % len(evs)); err != nil {
					b.Fatal(err)
				}
			}
			results[c.name] = float64(b.Elapsed()) / float64(b.N)
		})
	}
	if len(results) == 4 {
		fmt.Printf("personal data per event (mean of request, history copy, note, dialog): seal %s, open %s first read, "+
			"%s read again; baseline: one decode %s\n", time.Duration(results["seal"]), time.Duration(results["open, first read"]),
			time.Duration(results["open, read again"]), time.Duration(results["decode (baseline)"]))
	}
}
