package generations

import "testing"

// An entry outlives Size puts after it and not 2×Size; one kept when read
// outlives them; Clear forgets all.
func TestGenerations(t *testing.T) {
	m := Map[int, string]{Size: 3}
	m.Put(0, "a")
	m.Put(1, "b")
	for i := 2; i <= 5; i++ { // 0 and 1 move to the previous generation at 3
		m.Put(i, "x")
	}
	if v, ok := m.Get(1); !ok || v != "b" {
		t.Fatalf("an entry 4 puts old: %q %v, want it held", v, ok)
	}
	if _, ok := m.Keep(0); !ok {
		t.Fatal("an entry 5 puts old: gone, want it held")
	}
	for i := 6; i <= 8; i++ {
		m.Put(i, "x")
	}
	if _, ok := m.Get(1); ok {
		t.Fatal("an entry two generations old is still held")
	}
	if v, ok := m.Get(0); !ok || v != "a" {
		t.Fatalf("a kept entry: %q %v, want it held", v, ok)
	}
	m.Clear()
	if _, ok := m.Get(8); ok {
		t.Fatal("held after Clear")
	}
	var zero Map[string, int] // usable as declared, Size 0: one entry a generation
	zero.Put("k", 1)
	if v, _ := zero.Get("k"); v != 1 {
		t.Fatalf("zero Map: %d", v)
	}
}
