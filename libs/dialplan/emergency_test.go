package dialplan

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp/syntax"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// TestEmergencyNumbersAreShort proves what forbidden relies on to skip
// the emergency lists for a long number: no country's emergency number
// pattern, in the metadata linked in, matches more than maxShort digits.
func TestEmergencyNumbersAreShort(t *testing.T) {
	// The metadata the binary embeds, as the module ships it.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/nyaruka/phonenumbers").Output()
	if err != nil {
		t.Skipf("no module directory to read the metadata from: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	raw, err := os.ReadFile(filepath.Join(dir, "data", "shortnumber_metadata.xml.gz"))
	if err != nil {
		t.Skipf("short number metadata: %v", err)
	}
	z, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	var c phonenumbers.PhoneMetadataCollection
	if err := proto.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, m := range c.Metadata {
		e := m.GetEmergency()
		if e == nil || e.GetNationalNumberPattern() == "" {
			continue
		}
		seen++
		re, err := syntax.Parse(e.GetNationalNumberPattern(), syntax.Perl)
		if err != nil {
			t.Fatalf("%s: %v", m.GetId(), err)
		}
		if n := maxLen(re); n < 0 || n > maxShort {
			t.Errorf("%s: emergency numbers %q match up to %d digits (-1: any), more than maxShort (%d)", m.GetId(), e.GetNationalNumberPattern(), n, maxShort)
		}
	}
	if seen < 200 {
		t.Fatalf("%d countries with emergency numbers: the metadata is not what the test thinks", seen)
	}
	// And the library agrees on a long one that starts like one.
	if phonenumbers.IsEmergencyNumber("9115550123", "US") {
		t.Fatal("9115550123 is an emergency number in the US?")
	}
}

// maxLen is the most characters re matches, -1 when unbounded.
func maxLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpCapture, syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpRepeat:
		n := maxLen(re.Sub[0])
		if n < 0 || re.Max < 0 {
			return -1
		}
		return n * re.Max
	case syntax.OpConcat:
		total := 0
		for _, s := range re.Sub {
			n := maxLen(s)
			if n < 0 {
				return -1
			}
			total += n
		}
		return total
	case syntax.OpAlternate:
		most := 0
		for _, s := range re.Sub {
			n := maxLen(s)
			if n < 0 {
				return -1
			}
			most = max(most, n)
		}
		return most
	}
	return -1
}

// forbidden takes a known type for valid, as IsValidNumber does inside.
func TestValidIsAKnownType(t *testing.T) {
	for _, n := range []string{"+14155550123", "+442079460018", "+19005551234", "+999999999", "+33612345678", "+4915112345678",
		"+12125551234", "+1911555012", "+61291234567", "+8613812345678", "+12345", "+80012345678", "+882123456789"} {
		num, err := phonenumbers.Parse(n, "ZZ")
		if err != nil {
			continue
		}
		if v, typ := phonenumbers.IsValidNumber(num), phonenumbers.GetNumberType(num); v != (typ != phonenumbers.UNKNOWN) {
			t.Errorf("%s: valid %v, type %v", n, v, typ)
		}
	}
}
