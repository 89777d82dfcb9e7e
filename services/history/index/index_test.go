package index

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

func fold(events ...proto.Message) Links {
	var s Links
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

func TestDecide(t *testing.T) {
	i1 := &historyv1.InteractionLinked{InteractionId: "i1", CallbackId: "c1"}
	c1, c2 := &historyv1.ContactLinked{CallbackId: "c1"}, &historyv1.ContactLinked{CallbackId: "c2"}
	cases := []struct {
		name    string
		given   []proto.Message
		when    Link
		want    string // the links after, joined
		wantErr bool
	}{
		{"first interaction link", nil, Link{InteractionID: "i1", CallbackID: "c1"}, "c1", false},
		{"interaction linked again", []proto.Message{i1}, Link{InteractionID: "i1", CallbackID: "c1"}, "c1", false},
		{"interaction keeps its first callback", []proto.Message{i1}, Link{InteractionID: "i1", CallbackID: "c2"}, "c1", false},
		{"first contact link", nil, Link{CallbackID: "c1"}, "c1", false},
		{"second callback of a contact", []proto.Message{c1}, Link{CallbackID: "c2"}, "c1 c2", false},
		{"contact linked again", []proto.Message{c1, c2}, Link{CallbackID: "c1"}, "c1 c2", false},
		{"no callback", nil, Link{}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(fold(c.given...), c.when)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v", err)
			}
			if s := strings.Join(fold(append(c.given, got...)...), " "); s != c.want {
				t.Fatalf("links %q, want %q", s, c.want)
			}
		})
	}
}

func TestEvolveSharesNothing(t *testing.T) {
	a := fold(&historyv1.ContactLinked{CallbackId: "c1"}, &historyv1.ContactLinked{CallbackId: "c2"})
	b := Evolve(a, &historyv1.ContactLinked{CallbackId: "c3"})
	c := Evolve(a, &historyv1.ContactLinked{CallbackId: "c4"})
	if b[2] != "c3" || c[2] != "c4" || len(a) != 2 {
		t.Fatalf("%v %v %v", a, b, c)
	}
}

func TestContactStreamHidesTheNumber(t *testing.T) {
	k := make([]byte, KeySize)
	s := ContactStream(k, "+14155550123")
	if !strings.HasPrefix(s, ContactPrefix) || strings.Contains(s, "4155550123") || s == KeyStream ||
		s != ContactStream(k, "+14155550123") || s == ContactStream(k, "+14155550124") {
		t.Fatalf("stream %q", s)
	}
	k2 := make([]byte, KeySize)
	k2[0] = 1
	if s == ContactStream(k2, "+14155550123") {
		t.Fatal("key not in the name")
	}
}

func TestKey(t *testing.T) {
	k := make([]byte, KeySize)
	if got, err := DecideKey(nil, k); err != nil || len(got) != 1 {
		t.Fatalf("first: %v %v", got, err)
	}
	if got, _ := DecideKey(k, k); len(got) != 0 {
		t.Fatalf("second: %v", got)
	}
	if _, err := DecideKey(nil, k[:3]); err == nil {
		t.Fatal("short key")
	}
	first := &historyv1.ContactKeyCreated{Key: []byte("first")}
	if got := KeyOf(KeyOf(nil, first), &historyv1.ContactKeyCreated{Key: []byte("second")}); string(got) != "first" {
		t.Fatalf("key %q", got)
	}
}
