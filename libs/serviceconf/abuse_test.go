package serviceconf

import (
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/ratelimit"
)

func TestAbuseFields(t *testing.T) {
	set, err := Parse([]byte(`
services:
  "*":
    countries: [gb]
    blocked_numbers: ["+44909*"]
  support:
    rate_limit: "50/1s:100"
    countries: [GB, IE]
    blocked_numbers: ["+4420794601??", "+447700900123"]
    proof_of_work: 18
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	sup := set.Of("support")
	if sup.RateLimit == nil || *sup.RateLimit != (ratelimit.Limit{Count: 50, Per: time.Second, Burst: 100}) {
		t.Fatalf("rate_limit = %v", sup.RateLimit)
	}
	if strings.Join(sup.Countries, ",") != "GB,IE" || sup.ProofOfWork != 18 {
		t.Fatalf("countries %v, proof_of_work %d", sup.Countries, sup.ProofOfWork)
	}
	for number, want := range map[string]bool{
		"+442079460100": true, "+442079460199": true, "+442079460200": false, "+44207946010": false,
		"+447700900123": true, "+4477009001234": false, "+449091234567": false, // support's own list replaces "*"'s
	} {
		if got := sup.BlockedNumber(number); got != want {
			t.Errorf("support blocks %s = %v, want %v", number, got, want)
		}
	}
	other := set.Of("sales")
	if other.RateLimit != nil || strings.Join(other.Countries, ",") != "GB" || !other.BlockedNumber("+449091234567") || other.ProofOfWork != 0 {
		t.Fatalf("sales from *: %+v", other.Abuse)
	}
	if (Abuse{}).BlockedNumber("+449091234567") {
		t.Fatal("an empty list blocks")
	}
}

func TestAbuseFieldErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`rate_limit: "lots"`, "service support: rate_limit: "},
		{`countries: [XX]`, "service support: countries: "},
		{`blocked_numbers: ["4420*"]`, "service support: blocked_numbers[0]: "},
		{`blocked_numbers: ["+44*20"]`, "service support: blocked_numbers[0]: "},
		{`blocked_numbers: ["+44[0-9]"]`, "service support: blocked_numbers[0]: "},
		{`proof_of_work: 40`, "service support: proof_of_work: 40 is not within 0..24"},
	} {
		_, err := Parse([]byte("services:\n  support:\n    "+tc.doc+"\n"), time.LoadLocation)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want prefix %q", tc.doc, err, tc.want)
		}
	}
}
