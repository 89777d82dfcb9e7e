// Package dialplan decides which telephone numbers the platform may dial:
// an E.164 number of an allowed country and an allowed type, and never an
// emergency number of any country, a premium-rate or shared-cost number, a
// short code or a North American N11 service code (issue 16). It is pure
// (the numbering data is compiled into github.com/nyaruka/phonenumbers) and
// must not import a service.
package dialplan

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Refusal reasons. A refused number is a *RefusedError whose Reason is one
// of these; errors.Is matches them.
var (
	ErrFormat      = errors.New("not an E.164 number")
	ErrEmergency   = errors.New("an emergency number")
	ErrServiceCode = errors.New("a service code (N11)")
	ErrShortCode   = errors.New("a short code")
	ErrInvalid     = errors.New("not a valid number")
	ErrPremium     = errors.New("a premium-rate number")
	ErrSharedCost  = errors.New("a shared-cost number")
	ErrType        = errors.New("a number type not allowed")
	ErrCountry     = errors.New("a country not allowed")
)

// RefusedError says why a number may not be dialled. Its message never
// holds the number (numbers are personal data and must not reach logs).
type RefusedError struct {
	Reason error  // one of the Err values
	Detail string // e.g. the country or the type, never the number
}

func (e *RefusedError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("refused by the dial plan: %s (%s)", e.Reason, e.Detail)
	}
	return fmt.Sprintf("refused by the dial plan: %s", e.Reason)
}

func (e *RefusedError) Unwrap() error { return e.Reason }

// Type is a number type, named as in libphonenumber.
type Type string

// The number types a Plan may allow. Premium rate and shared cost exist so
// that configuration naming them is refused with a clear message.
const (
	FixedLine         Type = "fixed-line"
	Mobile            Type = "mobile"
	FixedLineOrMobile Type = "fixed-line-or-mobile"
	TollFree          Type = "toll-free"
	VoIP              Type = "voip"
	PersonalNumber    Type = "personal-number"
	Pager             Type = "pager"
	UAN               Type = "uan"
	Voicemail         Type = "voicemail"
)

var types = map[phonenumbers.PhoneNumberType]Type{
	phonenumbers.FIXED_LINE: FixedLine, phonenumbers.MOBILE: Mobile, phonenumbers.FIXED_LINE_OR_MOBILE: FixedLineOrMobile,
	phonenumbers.TOLL_FREE: TollFree, phonenumbers.VOIP: VoIP, phonenumbers.PERSONAL_NUMBER: PersonalNumber,
	phonenumbers.PAGER: Pager, phonenumbers.UAN: UAN, phonenumbers.VOICEMAIL: Voicemail,
}

// DefaultTypes are the types a Plan allows unless configured: numbers a
// person answers and that cost what an ordinary call costs. Personal
// numbers (UK 070), pagers, UAN and voicemail are left out: they are
// charged above normal rates in several countries.
var DefaultTypes = []Type{FixedLine, Mobile, FixedLineOrMobile, TollFree, VoIP}

// Plan is what may be dialled. The zero Plan allows every country and the
// DefaultTypes.
type Plan struct {
	Countries []string // ISO 3166 region codes ("US", "GB"); empty: every country
	Types     []Type   // empty: DefaultTypes
}

// Parse reads a plan from configuration: a comma list of region codes
// ("" or "*": every country) and a comma list of types ("": DefaultTypes).
func Parse(countries, numberTypes string) (Plan, error) {
	var p Plan
	supported := phonenumbers.GetSupportedRegions()
	for _, c := range strings.Split(countries, ",") {
		c = strings.ToUpper(strings.TrimSpace(c))
		switch {
		case c == "" || c == "*":
			continue
		case !supported[c]:
			return Plan{}, fmt.Errorf("dial plan: %q is not a region code such as US or GB", c)
		}
		p.Countries = append(p.Countries, c)
	}
	known := map[Type]bool{}
	for _, t := range types {
		known[t] = true
	}
	for _, t := range strings.Split(numberTypes, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case t == "":
			continue
		case t == "premium-rate" || t == "shared-cost":
			return Plan{}, fmt.Errorf("dial plan: %s numbers are never dialled", t)
		case !known[Type(t)]:
			return Plan{}, fmt.Errorf("dial plan: unknown number type %q (one of %s)", t, typeList())
		}
		p.Types = append(p.Types, Type(t))
	}
	return p, nil
}

func typeList() string {
	var out []string
	for _, t := range types {
		out = append(out, string(t))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// plusDigits is looser than E.164 (phone.IsE164) on purpose: "+000" and
// "+112" are emergency numbers written with a plus, and are refused as
// such (ErrEmergency) rather than as malformed.
var plusDigits = regexp.MustCompile(`^\+[0-9]{1,15}$`)

// allRegions are the supported regions in order, so a refusal names the
// same country every time.
var allRegions = func() []string {
	var out []string
	for r := range phonenumbers.GetSupportedRegions() {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}()

// maxShort is the longest emergency or short code we test against every
// country's list; an E.164 number this short is no subscriber's.
const maxShort = 6

// Check returns nil if number (E.164, "+" and digits) may be dialled, else
// a *RefusedError saying why: what Forbidden refuses, then a country or a
// type the plan does not allow.
func (p Plan) Check(number string) error {
	// Parsed and typed once, for both checks: the parse and the type's
	// patterns were most of a callback request's CPU (issue 12).
	n, err := forbidden(number)
	if err != nil {
		return err
	}
	if len(p.Countries) > 0 {
		if region := n.region(); !slices.Contains(p.Countries, region) {
			return &RefusedError{Reason: ErrCountry, Detail: region}
		}
	}
	allowed := p.Types
	if len(allowed) == 0 {
		allowed = DefaultTypes
	}
	t, ok := types[n.typ]
	if !ok || !slices.Contains(allowed, t) {
		if !ok {
			t = "unknown"
		}
		return &RefusedError{Reason: ErrType, Detail: string(t)}
	}
	return nil
}

// Forbidden returns a *RefusedError for a number no configuration may
// allow: not E.164, an emergency number of any country, an N11 service
// code, a short code, not a valid number, premium rate or shared cost. It is
// the last check before a number leaves for the trunk.
func Forbidden(number string) error {
	_, err := forbidden(number)
	return err
}

// parsed is what Forbidden learnt of a number it let through.
type parsed struct {
	num *phonenumbers.PhoneNumber
	typ phonenumbers.PhoneNumberType
}

// region is the number's country. Asked only when a plan names countries:
// for +1, finding it matches the patterns of up to 25 of them again, as
// GetNumberType did already.
func (n parsed) region() string { return phonenumbers.GetRegionCodeForNumber(n.num) }

func forbidden(number string) (parsed, error) {
	if !plusDigits.MatchString(number) {
		return parsed{}, &RefusedError{Reason: ErrFormat}
	}
	digits := number[1:]
	// "+112", "+911", "+000": the digits are an emergency number somewhere.
	if len(digits) <= maxShort {
		for _, region := range allRegions {
			if phonenumbers.IsEmergencyNumber(digits, region) {
				return parsed{}, &RefusedError{Reason: ErrEmergency, Detail: region}
			}
		}
	}
	if digits[0] == '0' {
		return parsed{}, &RefusedError{Reason: ErrFormat} // no country code starts with 0
	}
	num, err := parseE164(number)
	if err != nil {
		return parsed{}, &RefusedError{Reason: ErrInvalid}
	}
	national := phonenumbers.GetNationalSignificantNumber(num)
	regions := phonenumbers.GetRegionCodesForCountryCode(int(num.GetCountryCode()))
	// Valid is a known type: IsValidNumber is GetNumberType's lookup of
	// the region and match of its patterns, done again (and for +1, the
	// region's lookup matches up to 25 countries' patterns).
	typ := phonenumbers.GetNumberType(num)
	valid := typ != phonenumbers.UNKNOWN
	for _, region := range regions {
		// "+1911", "+44999": an emergency number behind its country code.
		// A number that is not valid and starts with one ("+49110123") is
		// refused as well, where the country connects such a number.
		// An exact match is at most maxShort digits long (every country's
		// list, TestEmergencyNumbersAreShort): a longer number skips the
		// list's regular expressions, run for each of +1's 25 countries,
		// which were a tenth of the CPU of taking a callback (issue 12).
		if (len(national) <= maxShort && phonenumbers.IsEmergencyNumber(national, region)) ||
			(!valid && phonenumbers.ConnectsToEmergencyNumber(national, region)) {
			return parsed{}, &RefusedError{Reason: ErrEmergency, Detail: region}
		}
	}
	// North America: N11 codes (211 … 911) are services, never subscribers,
	// also as an "area code" ("+19115550123").
	if num.GetCountryCode() == 1 && len(national) >= 3 && national[0] >= '2' && national[1:3] == "11" {
		return parsed{}, &RefusedError{Reason: ErrServiceCode}
	}
	if !valid {
		for _, region := range regions {
			if phonenumbers.IsValidShortNumberForRegion(num, region) {
				return parsed{}, &RefusedError{Reason: ErrShortCode, Detail: region}
			}
		}
		if len(national) <= maxShort {
			return parsed{}, &RefusedError{Reason: ErrShortCode}
		}
		return parsed{}, &RefusedError{Reason: ErrInvalid}
	}
	n := parsed{num: num, typ: typ}
	switch typ {
	case phonenumbers.PREMIUM_RATE:
		return parsed{}, &RefusedError{Reason: ErrPremium, Detail: n.region()}
	case phonenumbers.SHARED_COST:
		return parsed{}, &RefusedError{Reason: ErrSharedCost, Detail: n.region()}
	}
	return n, nil
}

// Reason is a short, stable name of why err refused a number, for events
// and metrics ("emergency", "premium-rate"); "" if err is not a refusal.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrFormat, "format"}, {ErrEmergency, "emergency"}, {ErrServiceCode, "service-code"},
		{ErrShortCode, "short-code"}, {ErrInvalid, "invalid"}, {ErrPremium, "premium-rate"},
		{ErrSharedCost, "shared-cost"}, {ErrType, "type"}, {ErrCountry, "country"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return ""
}
