package dialplan_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/dialplan"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	ukOnly, err := dialplan.Parse("GB", "")
	if err != nil {
		t.Fatal(err)
	}
	mobileOnly, err := dialplan.Parse("", "mobile")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, number string
		plan         dialplan.Plan
		want         error // nil: dialled
	}{
		// Emergency numbers of many countries, bare and behind a country code.
		{"US 911 with country code", "+1911", dialplan.Plan{}, dialplan.ErrEmergency},
		{"112 (EU, GSM)", "+112", dialplan.Plan{}, dialplan.ErrEmergency},
		{"UK 999", "+999", dialplan.Plan{}, dialplan.ErrEmergency},
		{"UK 999 with country code", "+44999", dialplan.Plan{}, dialplan.ErrEmergency},
		{"AU 000", "+000", dialplan.Plan{}, dialplan.ErrEmergency},
		{"AU 000 with country code", "+61000", dialplan.Plan{}, dialplan.ErrEmergency},
		{"DE/JP 110", "+110", dialplan.Plan{}, dialplan.ErrEmergency},
		{"DE 110 with country code", "+49110", dialplan.Plan{}, dialplan.ErrEmergency},
		{"DE 112 with country code", "+49112", dialplan.Plan{}, dialplan.ErrEmergency},
		{"JP/KR 119", "+119", dialplan.Plan{}, dialplan.ErrEmergency},
		{"IN/GR 100", "+100", dialplan.Plan{}, dialplan.ErrEmergency},
		{"FR 15 (SAMU)", "+15", dialplan.Plan{}, dialplan.ErrEmergency},
		{"FR 112 with country code", "+33112", dialplan.Plan{}, dialplan.ErrEmergency},
		{"CN 110 with country code", "+86110", dialplan.Plan{}, dialplan.ErrEmergency},
		{"IN 112 with country code", "+91112", dialplan.Plan{}, dialplan.ErrEmergency},
		{"911 as a NANP area code", "+19115550123", dialplan.Plan{}, dialplan.ErrEmergency},
		// Services and short codes.
		{"NANP 411", "+1411", dialplan.Plan{}, dialplan.ErrServiceCode},
		{"NANP 611 area code", "+16115550123", dialplan.Plan{}, dialplan.ErrServiceCode},
		{"DE directory 11833", "+4911833", dialplan.Plan{}, dialplan.ErrShortCode},
		// Premium rate and shared cost.
		{"US 900", "+19005550123", dialplan.Plan{}, dialplan.ErrPremium},
		// Issue 12's findings: both were accepted by the API.
		{"US 900 (issue 12)", "+19005551234", dialplan.Plan{}, dialplan.ErrPremium},
		{"no such country code 999 (issue 12)", "+999999999", dialplan.Plan{}, dialplan.ErrInvalid},
		{"UK 0871", "+448712345678", dialplan.Plan{}, dialplan.ErrPremium},
		{"FR 089", "+33899123456", dialplan.Plan{}, dialplan.ErrPremium},
		{"CH 0900", "+41900123456", dialplan.Plan{}, dialplan.ErrPremium},
		{"FR 081 shared cost", "+33810123456", dialplan.Plan{}, dialplan.ErrSharedCost},
		// Types outside the defaults.
		{"UK 070 personal number", "+447012345678", dialplan.Plan{}, dialplan.ErrType},
		{"UK 030 UAN", "+443001234567", dialplan.Plan{}, dialplan.ErrType},
		// Malformed and invalid.
		{"no plus", "14155550123", dialplan.Plan{}, dialplan.ErrFormat},
		{"spaces", "+1 415 555 0123", dialplan.Plan{}, dialplan.ErrFormat},
		{"empty", "", dialplan.Plan{}, dialplan.ErrFormat},
		{"too long", "+1415555012345678", dialplan.Plan{}, dialplan.ErrFormat},
		{"leading zero", "+0123456", dialplan.Plan{}, dialplan.ErrFormat},
		{"JP too short", "+8190000000", dialplan.Plan{}, dialplan.ErrInvalid},
		// Ordinary numbers.
		{"US fixed or mobile", "+14155550123", dialplan.Plan{}, nil},
		{"US toll free", "+18005550123", dialplan.Plan{}, nil},
		{"UK London", "+442071234567", dialplan.Plan{}, nil},
		{"FR mobile", "+33612345678", dialplan.Plan{}, nil},
		{"FR Paris (starts with 1, like 15)", "+33153000000", dialplan.Plan{}, nil},
		{"DE Berlin", "+493012345678", dialplan.Plan{}, nil},
		{"DE mobile", "+4915112345678", dialplan.Plan{}, nil},
		{"AU Sydney", "+61212345678", dialplan.Plan{}, nil},
		{"JP mobile", "+819012345678", dialplan.Plan{}, nil},
		{"IN mobile", "+919812345678", dialplan.Plan{}, nil},
		{"BR mobile", "+5511987654321", dialplan.Plan{}, nil},
		// Configured countries and types.
		{"UK number, UK only", "+442071234567", ukOnly, nil},
		{"US number, UK only", "+14155550123", ukOnly, dialplan.ErrCountry},
		{"emergency before country", "+1911", ukOnly, dialplan.ErrEmergency},
		{"FR mobile, mobile only", "+33612345678", mobileOnly, nil},
		{"UK fixed line, mobile only", "+442071234567", mobileOnly, dialplan.ErrType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.plan.Check(tc.number)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want dialled", tc.number, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check(%s) = %v, want %v", tc.number, err, tc.want)
			}
			var re *dialplan.RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("Check(%s) = %T, want *RefusedError", tc.number, err)
			}
			if tc.number != "" && strings.Contains(err.Error(), tc.number[1:]) {
				t.Errorf("refusal %q shows the number", err)
			}
			if dialplan.Reason(err) == "" {
				t.Errorf("Reason(%v) is empty", err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		countries, types string
		ok               bool
	}{
		{"", "", true},
		{"*", "", true},
		{"us, gb", "mobile,fixed-line", true},
		{"XX", "", false},
		{"", "premium-rate", false},
		{"", "shared-cost", false},
		{"", "landline", false},
	} {
		_, err := dialplan.Parse(tc.countries, tc.types)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q, %q) = %v, want ok %v", tc.countries, tc.types, err, tc.ok)
		}
	}
}

// FuzzCheck: whatever the input, Check refuses or allows without panicking,
// and an allowed number is never an emergency or premium number.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"+1911", "+112", "+14155550123", "+19005550123", "+", "++1", "+1\n911"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := (dialplan.Plan{}).Check(s); err == nil && !strings.HasPrefix(s, "+") {
			t.Fatalf("Check(%q) allowed a number without +", s)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_ = (dialplan.Plan{}).Check("+14155550123")
	}
}

// TestForbidden: what no plan allows is refused without a plan; a type a
// plan would refuse is not Forbidden's business.
func TestForbidden(t *testing.T) {
	t.Parallel()
	for number, want := range map[string]error{
		"+1911": dialplan.ErrEmergency, "+112": dialplan.ErrEmergency, "+999": dialplan.ErrEmergency,
		"+19005550123": dialplan.ErrPremium, "+19115550123": dialplan.ErrEmergency, "+33810123456": dialplan.ErrSharedCost,
		"+1411": dialplan.ErrServiceCode, "+14155550123": nil, "+447012345678": nil,
	} {
		if err := dialplan.Forbidden(number); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("Forbidden(%s) = %v, want %v", number, err, want)
		}
	}
}
