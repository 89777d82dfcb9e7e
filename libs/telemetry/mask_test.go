package telemetry

import "testing"

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+14155550123": "+141******23",
		"+3312":        "*****",
		"":             "",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
