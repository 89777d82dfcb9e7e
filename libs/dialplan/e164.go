package dialplan

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// parseE164 is phonenumbers.Parse(number, "ZZ") for a number plusDigits
// let through ("+" and digits), and returns the same number or the same
// error. Parse runs a general parser (a tel: URI, an extension, letters,
// punctuation, an international dialling prefix) through regular
// expressions, and was half of the dial plan's CPU, itself a sixth of an
// intake replica's (issue 12). For "+" and digits all of it finds
// nothing, and what is left is the country code and the national number;
// the one step that depends on the country, stripping a national prefix,
// is left to Parse whenever the country's prefix pattern matches (a
// malformed "+44 0..." or "+1 1..."). TestParseE164IsParse holds the two
// equal over every country code.
func parseE164(number string) (*phonenumbers.PhoneNumber, error) {
	digits := number[1:]
	// Shorter than Parse's shortest viable number, or a country code that
	// cannot be: Parse says why.
	if len(digits) < 3 || digits[0] == '0' {
		return phonenumbers.Parse(number, "ZZ")
	}
	// The country code is the shortest prefix phonenumbers knows as one.
	cc, size := 0, 0
	for i := 1; i <= 3 && i < len(digits); i++ {
		c, _ := strconv.Atoi(digits[:i])
		if len(phonenumbers.GetRegionCodesForCountryCode(c)) > 0 {
			cc, size = c, i
			break
		}
	}
	prefix, known := nationalPrefixes()[cc]
	nsn := digits[size:]
	if !known || len(nsn) < 2 || len(nsn) > 17 || (prefix != nil && prefix.MatchString(nsn)) {
		return phonenumbers.Parse(number, "ZZ")
	}
	n, err := strconv.ParseUint(nsn, 10, 64)
	if err != nil {
		return phonenumbers.Parse(number, "ZZ")
	}
	num := &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc)), NationalNumber: proto.Uint64(n)}
	// Italian leading zeros, as Parse keeps them.
	if nsn[0] == '0' { // nsn has 2 digits or more (above)
		num.ItalianLeadingZero = proto.Bool(true)
		zeros := 1
		for zeros < len(nsn)-1 && nsn[zeros] == '0' {
			zeros++
		}
		if zeros != 1 {
			num.NumberOfLeadingZeros = proto.Int32(int32(zeros))
		}
	}
	return num, nil
}

// nationalPrefixes maps every country code phonenumbers knows to the
// pattern of the national prefix Parse strips after it (that of the
// code's main country, as Parse takes it), nil where there is none.
var nationalPrefixes = sync.OnceValue(func() map[int]*regexp.Regexp {
	out := map[int]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return out // every number goes to Parse
	}
	for _, md := range coll.GetMetadata() {
		cc := int(md.GetCountryCode())
		main := phonenumbers.GetRegionCodeForCountryCode(cc)
		if md.GetId() != main {
			continue
		}
		var re *regexp.Regexp
		if p := md.GetNationalPrefixForParsing(); p != "" {
			if re, err = regexp.Compile("^(?:" + p + ")"); err != nil {
				continue // left out: its numbers go to Parse
			}
		}
		out[cc] = re
	}
	return out
})
