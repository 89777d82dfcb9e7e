package phone

import "testing"

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+14155550123": "+141******23",
		"+3312":        "*****",
		"":             "",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestE164(t *testing.T) {
	for _, c := range []struct {
		n                string
		e164, contactNum bool
	}{
		{"+14155550123", true, true},
		{"+6834002", true, true}, // Niue: seven digits in all
		{"+112", true, false},
		{"+999999999999999", true, true},
		{"+9999999999999999", false, false}, // 16 digits
		{"+04155550123", false, false},
		{"14155550123", false, false},
		{"+1 415 555 0123", false, false},
		{"+", false, false},
		{"", false, false},
	} {
		if got := IsE164(c.n); got != c.e164 {
			t.Errorf("IsE164(%q) = %v", c.n, got)
		}
		if got := IsContactNumber(c.n); got != c.contactNum {
			t.Errorf("IsContactNumber(%q) = %v", c.n, got)
		}
	}
}
