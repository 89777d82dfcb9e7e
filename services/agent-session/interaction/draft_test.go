package interaction

import (
	"errors"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/proto/catalog"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
)

func TestDraftIsSavedAndFiledAtDone(t *testing.T) {
	caseReq := &agentv1.InteractionPresented{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", OfferId: "i1:1",
		Request:   &callbackv1.CallbackRequest{PhoneNumber: "+14155550123", Service: "support", CaseData: map[string]string{"order": "A-1"}},
		ExpiresAt: timestamppb.New(t0.Add(15 * time.Second)), At: timestamppb.New(t0)}
	open := []proto.Message{caseReq, acceptReq, accepted}
	typed := func(note string) *agentv1.DraftSaved {
		return &agentv1.DraftSaved{InteractionId: "i1", AgentId: "a1", Note: note, At: timestamppb.New(t0)}
	}
	editing := func(data map[string]string) *agentv1.DraftSaved {
		return &agentv1.DraftSaved{InteractionId: "i1", AgentId: "a1", CaseEditing: true, CaseData: data, At: timestamppb.New(t0)}
	}
	busy := &agentv1.CallStatusChanged{CallId: "k1", Status: ReadyToCall, DialOutcome: mediav1.Outcome_OUTCOME_BUSY, Outcome: "busy", At: timestamppb.New(t0)}
	long := string(make([]byte, MaxNote+1))
	cases := []struct {
		name      string
		given     []proto.Message
		when      Command
		want      []string
		wantField string // of a *DraftError
		wantErr   error
		filed     *agentv1.DraftFiled
	}{
		{name: "save a note", given: open, when: SaveDraft{Agent: "a1", Draft: Draft{Note: "call back"}, At: t0},
			want: []string{"DraftSaved"}},
		{name: "the same draft again", given: append(open, typed("call back")),
			when: SaveDraft{Agent: "a1", Draft: Draft{Note: "call back"}, At: t0}},
		{name: "cleared after Save Note", given: append(open, typed("call back")),
			when: SaveDraft{Agent: "a1", Draft: Draft{}, At: t0}, want: []string{"DraftSaved"}},
		{name: "before accept", given: []proto.Message{caseReq}, when: SaveDraft{Agent: "a1", Draft: Draft{Note: "x"}, At: t0},
			wantErr: ErrNotAccepted},
		{name: "by another agent", given: open, when: SaveDraft{Agent: "a2", Draft: Draft{Note: "x"}, At: t0}, wantErr: ErrNotYours},
		{name: "after done", given: append(open, &agentv1.InteractionDone{At: timestamppb.New(t0)}),
			when: SaveDraft{Agent: "a1", Draft: Draft{Note: "x"}, At: t0}, wantErr: ErrNotAccepted},
		{name: "note too long", given: open, when: SaveDraft{Agent: "a1", Draft: Draft{Note: long}, At: t0}, wantField: "note"},
		{name: "case data while not editing", given: open,
			when: SaveDraft{Agent: "a1", Draft: Draft{CaseData: map[string]string{"a": "b"}}, At: t0}, wantField: "case_data"},
		{name: "empty case key", given: open,
			when: SaveDraft{Agent: "a1", Draft: Draft{CaseEditing: true, CaseData: map[string]string{"": "b"}}, At: t0}, wantField: "case_data"},
		{name: "done files the note typed", given: append(open, typed("  wants a refund ")), when: Finish{Agent: "a1", At: t0},
			want:  []string{"DraftFiled", "InteractionDone"},
			filed: &agentv1.DraftFiled{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", Note: "wants a refund"}},
		{name: "a blank note is not filed", given: append(open, typed(" \n ")), when: Finish{Agent: "a1", At: t0},
			want: []string{"InteractionDone"}},
		{name: "a note saved by hand is not filed again", given: append(open, typed("x"), typed("")), when: Finish{Agent: "a1", At: t0},
			want: []string{"InteractionDone"}},
		{name: "done files the case edit", given: append(open, editing(map[string]string{"order": "A-2"})), when: Finish{Agent: "a1", At: t0},
			want:  []string{"DraftFiled", "InteractionDone"},
			filed: &agentv1.DraftFiled{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", CaseEdited: true, CaseData: map[string]string{"order": "A-2"}}},
		{name: "an edit that changes nothing is not filed", given: append(open, editing(map[string]string{"order": "A-1"})),
			when: Finish{Agent: "a1", At: t0}, want: []string{"InteractionDone"}},
		{name: "done refused keeps the draft", given: append(open, typed("x")), when: Finish{Agent: "a1", RequireDisposition: true, At: t0},
			wantErr: ErrNeedDisposition},
		{name: "the note is filed as its author's", given: append(open, &agentv1.DraftSaved{AgentId: "a0", Note: "from a0"}),
			when: Finish{Agent: "a1", At: t0}, want: []string{"DraftFiled", "InteractionDone"},
			filed: &agentv1.DraftFiled{InteractionId: "i1", CallbackId: "c1", AgentId: "a0", Note: "from a0"}},
		{name: "the retry policy ending it files the note", given: append(open, dialled, typed("no one home"), busy),
			when: AutoRetry{At: t0}, want: []string{"DraftFiled", "InteractionDone"},
			filed: &agentv1.DraftFiled{InteractionId: "i1", CallbackId: "c1", AgentId: "a1", Note: "no one home"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := State{}
			for _, e := range c.given {
				s = Evolve(s, e)
			}
			before := s.Draft
			got, err := Decide(s, c.when)
			var de *DraftError
			switch {
			case c.wantField != "":
				if !errors.As(err, &de) || de.Field != c.wantField {
					t.Fatalf("err = %v, want a DraftError on %s", err, c.wantField)
				}
			case !errors.Is(err, c.wantErr):
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d events, want %v", len(got), c.want)
			}
			for i, e := range got {
				if n := catalog.Short(catalog.TypeName(e)); n != c.want[i] {
					t.Fatalf("event %d = %s, want %s", i, n, c.want[i])
				}
			}
			if c.filed != nil {
				f := got[0].(*agentv1.DraftFiled)
				f.At = nil
				if !proto.Equal(f, c.filed) {
					t.Fatalf("filed %v, want %v", f, c.filed)
				}
			}
			for _, e := range got {
				s = Evolve(s, e)
			}
			if c.filed != nil && (s.Draft.Note != "" || s.Draft.CaseEditing) {
				t.Fatalf("draft after filing: %+v", s.Draft)
			}
			if c.filed != nil && c.filed.CaseEdited && !maps.Equal(s.CaseData(), c.filed.CaseData) {
				t.Fatalf("case data after filing: %v", s.CaseData())
			}
			if err != nil && !before.equal(s.Draft) {
				t.Fatalf("a refused command changed the draft")
			}
		})
	}
}
