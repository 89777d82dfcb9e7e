package selflink

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, 32)} }

func TestVerify(t *testing.T) {
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	const cb = "6f1c2a8e-3a1b-4c55-9d1e-0b7bb5a8f3c4"
	old, cur := key("k1", 1), key("k2", 2)
	keys, err := NewKeys(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	oldOnly, _ := NewKeys(old)
	stranger, _ := NewKeys(key("k1", 9)) // same id, another secret
	good := keys.Sign(cb, now.Add(time.Hour))
	parts := strings.Split(good, ".")
	swap := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, ".")
	}
	flip := func(s string) string { // one character changed
		b := []byte(s)
		if b[len(b)-1] == 'A' {
			b[len(b)-1] = 'B'
		} else {
			b[len(b)-1] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name  string
		token string
		at    time.Time
		want  error
	}{
		{"good", good, now, nil},
		{"good until the last second", good, now.Add(time.Hour - time.Second), nil},
		{"signed by an older key that still verifies", oldOnly.Sign(cb, now.Add(time.Hour)), now, nil},
		{"expired", good, now.Add(time.Hour), ErrExpired},
		{"expired long ago", good, now.Add(30 * 24 * time.Hour), ErrExpired},
		{"tampered mac", flip(good), now, ErrForged},
		{"tampered expiry, later", swap(2, "4102444800"), now, ErrForged},
		{"tampered expiry of an expired link", swap(2, "4102444800"), now.Add(2 * time.Hour), ErrForged},
		{"wrong callback", swap(1, "0b7bb5a8-3a1b-4c55-9d1e-6f1c2a8e3c4f"), now, ErrForged},
		{"unknown kid", swap(0, "k9"), now, ErrUnknownKey},
		{"kid of another key", swap(0, "k1"), now, ErrForged},
		{"same kid, another secret", stranger.Sign(cb, now.Add(time.Hour)), now, ErrForged},
		{"empty", "", now, ErrForged},
		{"too few parts", "k2." + cb + ".1", now, ErrForged},
		{"too many parts", good + ".x", now, ErrForged},
		{"huge", strings.Repeat("a", 300), now, ErrForged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := keys.Verify(tc.token, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if tc.want == nil && c.Callback != cb {
				t.Errorf("callback %q, want %q", c.Callback, cb)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	k1, k2 := key("k1", 1), key("k2", 2)
	before, _ := NewKeys(k1)
	after, _ := NewKeys(k2, k1)
	retired, _ := NewKeys(k2)
	link := before.Sign("cb", now.Add(time.Hour))
	if _, err := after.Verify(link, now); err != nil {
		t.Errorf("a link of the key before the rotation: %v, want valid", err)
	}
	if got := after.Sign("cb", now.Add(time.Hour)); !strings.HasPrefix(got, "k2.") {
		t.Errorf("after the rotation signs %q, want the new key k2", got)
	}
	if _, err := retired.Verify(link, now); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a link of a retired key: %v, want ErrUnknownKey", err)
	}
}

func TestParseFile(t *testing.T) {
	s32, s33 := strings.Repeat("a", 32), strings.Repeat("b", 33)
	keys, err := ParseFile("# rotated monthly\nold:" + s32 + "\n\n new : " + s33 + " \n")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "new" || string(keys[0].Secret) != s33 || keys[1].ID != "old" {
		t.Fatalf("keys %+v: want new (last line) first", keys)
	}
	for _, bad := range []string{"", "# only a comment\n", "nocolon"} {
		if _, err := ParseFile(bad); err == nil {
			t.Errorf("ParseFile(%q): want an error", bad)
		}
	}
	for _, tc := range []struct {
		name string
		keys []Key
	}{
		{"short secret", []Key{{ID: "a", Secret: []byte("short")}}},
		{"bad id", []Key{{ID: "a.b", Secret: []byte(s32)}}},
		{"empty id", []Key{{ID: "", Secret: []byte(s32)}}},
		{"duplicate", []Key{{ID: "a", Secret: []byte(s32)}, {ID: "a", Secret: []byte(s33)}}},
	} {
		if _, err := NewKeys(tc.keys[0], tc.keys[1:]...); err == nil {
			t.Errorf("%s: want an error", tc.name)
		}
	}
}

func TestDerive(t *testing.T) {
	a, err := Derive(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Derive(bytes.Repeat([]byte{1}, 32))
	other, _ := Derive(bytes.Repeat([]byte{2}, 32))
	if a.ID != again.ID || !bytes.Equal(a.Secret, again.Secret) {
		t.Error("the same secret must derive the same key on every replica")
	}
	if a.ID == other.ID || bytes.Equal(a.Secret, other.Secret) {
		t.Error("another secret must derive another key and id")
	}
	if bytes.Equal(a.Secret, bytes.Repeat([]byte{1}, 32)) {
		t.Error("the link key must not be the secret itself")
	}
	if _, err := NewKeys(a); err != nil {
		t.Errorf("a derived key is a valid key: %v", err)
	}
}
