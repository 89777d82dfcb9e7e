package eventdoc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The committed catalogue is what the schemas and the envelope say today.
func TestCatalogueIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	want, err := Generate(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "docs", "events.md"))
	if err != nil {
		t.Fatalf("%v (make events writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/events.md is not current: run make events and commit it")
	}
}

func TestStreamsNamedInComments(t *testing.T) {
	for _, c := range []struct {
		comment string
		want    []string
	}{
		{"CallbackRequested: intake accepted a request. Stream intake-callback-<id>.", []string{"intake-callback-<id>"}},
		{"fence. Stream router-dispatcher-main. It is", []string{"router-dispatcher-main"}},
		{"Stream scheduler-slot-<service>-<bucket start, unix seconds>; appended", []string{"scheduler-slot-<service>-<bucket start, unix seconds>"}},
		{"(stream intake-contact-key, written at \"no stream\") and read", []string{"intake-contact-key"}},
		{"per-number claim stream (intake-contact-n<key>, the cap", nil},
		{"Stream agent-interaction-<id>: the interaction; an agent's own are on stream agent-<id>.", []string{"agent-interaction-<id>", "agent-<id>"}},
		{"Written at \"no stream\" on intake-callback-<id>", nil},
		{"one stream per call attempt", nil},
	} {
		if got := streams(c.comment); !slices.Equal(got, c.want) {
			t.Errorf("streams(%q) = %q, want %q", c.comment, got, c.want)
		}
	}
}

// An event whose comment and file name no stream is refused, so a new
// event cannot reach the catalogue without saying where it is written.
func TestEventWithoutStreamIsAnError(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "..", "proto"))); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(root, "ringback", "callback", "v1", "callback.proto")
	src, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	const named = "// Stream intake-callback-<id>.\nmessage CallbackCancelled {"
	if !bytes.Contains(src, []byte(named)) {
		t.Fatalf("callback.proto has no %q", named)
	}
	if err := os.WriteFile(f, bytes.Replace(src, []byte(named), []byte("message CallbackCancelled {"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(context.Background(), root)
	if err == nil || !strings.Contains(err.Error(), "ringback.callback.v1.CallbackCancelled") || !strings.Contains(err.Error(), "names no stream") {
		t.Fatalf("Load = %v, want CallbackCancelled named as streamless", err)
	}
}

// Fields come from the linked descriptors (options: what libs/personal
// seals) with the source's comments; parts are flattened.
func TestFieldsSealedAndCommented(t *testing.T) {
	pkgs, err := Load(context.Background(), filepath.Join("..", "..", "proto"))
	if err != nil {
		t.Fatal(err)
	}
	var ev *Event
	for _, p := range pkgs {
		for i, e := range p.Events {
			if e.Name == "ringback.callback.v1.CallbackRequested" {
				ev = &p.Events[i]
			}
		}
	}
	if ev == nil {
		t.Fatal("CallbackRequested not in the catalogue")
	}
	if got, want := ev.Sealed(), []string{"request.phone_number", "request.subject", "request.case_data", "request.contact_name"}; !slices.Equal(got, want) {
		t.Errorf("sealed = %q, want %q", got, want)
	}
	for _, f := range ev.Fields {
		if f.Name == "request.phone_number" && (!f.Contact || f.Comment != "E.164" || f.Type != "string") {
			t.Errorf("request.phone_number: %+v", f)
		}
		if f.Name == "request.desired_time" && f.Type != "google.protobuf.Timestamp" {
			t.Errorf("request.desired_time: %+v", f)
		}
	}
	if ev.Stream != "intake-callback-<id>" {
		t.Errorf("stream %q", ev.Stream)
	}
}
