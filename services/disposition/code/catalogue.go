package code

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Code is a disposition code and the words the agent sees for it.
type Code struct {
	Code  string `json:"code"`
	Label string `json:"label"`
}

// Catalogue is the configured list of codes, in the order the agent sees them.
type Catalogue struct {
	codes []Code
	known map[string]bool
}

// codeFormat keeps codes safe in URLs, reports and metric labels.
var codeFormat = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// MaxLabel bounds a label: one line of a drop-down list.
const MaxLabel = 80

// ParseCatalogue reads "code[=Label],code[=Label],...". A code without a
// label is shown with its dashes as spaces, capitalised: "callback-again"
// is "Callback again".
func ParseCatalogue(spec string) (Catalogue, error) {
	c := Catalogue{known: map[string]bool{}}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		code, label, hasLabel := strings.Cut(item, "=")
		code, label = strings.TrimSpace(code), strings.TrimSpace(label)
		if !codeFormat.MatchString(code) {
			return Catalogue{}, fmt.Errorf("code %q: must be lower-case letters, digits and dashes", code)
		}
		if c.known[code] {
			return Catalogue{}, fmt.Errorf("code %q: listed twice", code)
		}
		if !hasLabel {
			label = defaultLabel(code)
		}
		if label == "" || len(label) > MaxLabel || !utf8.ValidString(label) {
			return Catalogue{}, fmt.Errorf("code %q: label must be 1 to %d bytes of text", code, MaxLabel)
		}
		c.known[code] = true
		c.codes = append(c.codes, Code{Code: code, Label: label})
	}
	if len(c.codes) == 0 {
		return Catalogue{}, fmt.Errorf("no disposition codes")
	}
	return c, nil
}

func defaultLabel(code string) string {
	s := strings.ReplaceAll(code, "-", " ")
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// Codes lists the catalogue.
func (c Catalogue) Codes() []Code { return append([]Code(nil), c.codes...) }

// Has says whether code is in the catalogue.
func (c Catalogue) Has(code string) bool { return c.known[code] }
