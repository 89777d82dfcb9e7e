package sip

import "testing"

func TestOpusTicks(t *testing.T) {
	for _, c := range []struct {
		name   string
		packet []byte
		want   uint32
	}{
		{"empty", nil, 0},
		{"SILK 20 ms", []byte{1 << 3}, 960},
		{"SILK 60 ms", []byte{3 << 3}, 2880},
		{"hybrid 10 ms", []byte{12 << 3}, 480},
		{"CELT 2.5 ms", []byte{16 << 3}, 120},
		{"CELT 20 ms, two frames", []byte{19<<3 | 1}, 1920},
		{"CELT 20 ms, code 3 with 3 frames", []byte{19<<3 | 3, 3}, 2880},
		{"code 3 without its count", []byte{19<<3 | 3}, 0},
	} {
		if got := opusTicks(c.packet); got != c.want {
			t.Errorf("%s: opusTicks = %d, want %d", c.name, got, c.want)
		}
	}
}
