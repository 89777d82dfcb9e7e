package serviceconf

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ringback/ringback/libs/dialplan"
	"github.com/ringback/ringback/libs/ratelimit"
)

// Abuse is what a service admits of the public (issue 12): intake applies
// it before anything is written.
type Abuse struct {
	// RateLimit bounds the service's callback requests, all intake replicas
	// together; nil: intake's --intake.rate-service.
	RateLimit *ratelimit.Limit
	// Countries are the ISO region codes whose numbers the service calls
	// back, within the binary's --intake.dial-countries; empty: those.
	Countries []string
	// Blocked are patterns of numbers the service never calls back.
	Blocked []NumberPattern
	// ProofOfWork is the difficulty, in leading zero bits, of the
	// proof-of-work a request must carry; 0: none asked.
	ProofOfWork int
}

// NumberPattern is a block-list entry: "+" and digits, "?" for any one
// digit, and an optional "*" at the end for any rest. "+44909*" is a
// prefix, "+4420794601??" a hundred numbers, "+442079460123" one.
type NumberPattern string

var patternSyntax = regexp.MustCompile(`^\+[0-9?]{1,15}\*?$`)

// Match says whether an E.164 number matches the pattern.
func (p NumberPattern) Match(number string) bool {
	pat := string(p)
	rest, prefix := strings.CutSuffix(pat, "*")
	if len(number) < len(rest) || (!prefix && len(number) != len(rest)) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] != '?' && rest[i] != number[i] {
			return false
		}
		if rest[i] == '?' && (number[i] < '0' || number[i] > '9') {
			return false
		}
	}
	return true
}

// BlockedNumber says whether the service's block list holds number.
func (a Abuse) BlockedNumber(number string) bool {
	for _, p := range a.Blocked {
		if p.Match(number) {
			return true
		}
	}
	return false
}

// maxProofOfWork: 2^24 hashes is some seconds in a phone's browser; more
// shuts visitors out.
const maxProofOfWork = 24

type abuseDoc struct {
	RateLimit      *string  `json:"rate_limit"`
	Countries      []string `json:"countries"`
	BlockedNumbers []string `json:"blocked_numbers"`
	ProofOfWork    *int     `json:"proof_of_work"`
}

// resolve puts the entry's abuse fields on s; errors name the field.
func (d abuseDoc) resolve(s Service) (Service, error) {
	if d.RateLimit != nil {
		l, err := ratelimit.Parse(*d.RateLimit)
		if err != nil {
			return s, fmt.Errorf("rate_limit: %w", err)
		}
		s.RateLimit = &l
	}
	if d.Countries != nil {
		plan, err := dialplan.Parse(strings.Join(d.Countries, ","), "")
		if err != nil {
			return s, fmt.Errorf("countries: %w", err)
		}
		s.Countries = plan.Countries
	}
	if d.BlockedNumbers != nil {
		s.Blocked = nil
		for i, p := range d.BlockedNumbers {
			if !patternSyntax.MatchString(p) {
				return s, fmt.Errorf("blocked_numbers[%d]: %q is not \"+\" and digits, with \"?\" for any digit and an optional \"*\" at the end", i, p)
			}
			s.Blocked = append(s.Blocked, NumberPattern(p))
		}
	}
	if d.ProofOfWork != nil {
		if *d.ProofOfWork < 0 || *d.ProofOfWork > maxProofOfWork {
			return s, fmt.Errorf("proof_of_work: %d is not within 0..%d", *d.ProofOfWork, maxProofOfWork)
		}
		s.ProofOfWork = *d.ProofOfWork
	}
	return s, nil
}
