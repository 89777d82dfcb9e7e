package dialplan

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// TestParseE164IsParse: the short cut gives what phonenumbers.Parse gives,
// the same number or an error, for numbers of every country code phonenumbers knows,
// of every length plusDigits lets through, and for the numbers most
// likely to differ: a national prefix after the country code, leading
// zeros, the countries' own example numbers.
func TestParseE164IsParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	var numbers []string
	ccs := map[int]bool{}
	for region := range phonenumbers.GetSupportedRegions() {
		ccs[phonenumbers.GetCountryCodeForRegion(region)] = true
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
			phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.UAN} {
			if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
				numbers = append(numbers, phonenumbers.Format(ex, phonenumbers.E164))
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		ccs[cc] = true
	}
	for cc := range ccs {
		c := strconv.Itoa(cc)
		nd := phonenumbers.GetNddPrefixForRegion(phonenumbers.GetRegionCodeForCountryCode(cc), true)
		for n := 1; n+len(c) <= 15; n++ {
			for range 12 {
				numbers = append(numbers, "+"+c+digits(n))
			}
			numbers = append(numbers, "+"+c+"0"+digits(n), "+"+c+"00"+digits(n), "+"+c+"1"+digits(n), "+"+c+"8"+digits(n))
			if nd != "" {
				numbers = append(numbers, "+"+c+nd+digits(n))
			}
		}
	}
	for n := 1; n <= 15; n++ { // any country code, known or not
		for range 200 {
			numbers = append(numbers, "+"+digits(n))
		}
	}
	short := 0
	for _, number := range numbers {
		if !plusDigits.MatchString(number) {
			continue
		}
		want, werr := phonenumbers.Parse(number, "ZZ")
		got, gerr := parseE164(number)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Errorf("%s: error %v, Parse's %v", number, gerr, werr)
			continue
		}
		if werr == nil && !proto.Equal(got, want) {
			t.Errorf("%s: %v, Parse's %v", number, got, want)
		}
		short++
	}
	if short < 20000 {
		t.Fatalf("only %d numbers compared", short)
	}
	t.Logf("%d numbers of %d country codes: the same as Parse", short, len(ccs))
}

func BenchmarkParseE164(b *testing.B) {
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			_, _ = phonenumbers.Parse("+14155550123", "ZZ")
		}
	})
	b.Run("parseE164", func(b *testing.B) {
		for b.Loop() {
			_, _ = parseE164("+14155550123")
		}
	})
}
