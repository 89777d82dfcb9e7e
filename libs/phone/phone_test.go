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
