package sip

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Account is an agent's phone allowed to REGISTER with the gateway.
type Account struct {
	// Password is the digest password (RFC 3261 22.4).
	Password string `json:"password"`
	// Algorithms are the digest algorithms challenged for this account
	// (AlgorithmSHA256, AlgorithmMD5); nil means Config.DigestAlgorithms.
	// Offering SHA-256 to a phone that does not know it breaks it: Debian
	// 12's baresip (libre before 3.12), like many desk phones, aborts on any
	// challenge that is not MD5, even with an MD5 challenge beside it
	// (issue 16). So SHA-256 is offered only where the account says so.
	Algorithms []string `json:"algorithms,omitempty"`
}

// Digest algorithms of RFC 8760 the registrar knows.
const (
	AlgorithmSHA256 = "SHA-256"
	AlgorithmMD5    = "MD5"
)

// DefaultDigestAlgorithms is what every deployed phone answers: MD5 alone.
var DefaultDigestAlgorithms = []string{AlgorithmMD5}

// algorithmRank is the order of preference of RFC 8760 2.4: a server lists
// its challenges from most to least preferred.
var algorithmRank = map[string]int{AlgorithmSHA256: 0, AlgorithmMD5: 1}

// normalizeAlgorithms checks algs and returns them upper-cased, without
// duplicates, in RFC 8760 order whatever order they were given in.
func normalizeAlgorithms(algs []string) ([]string, error) {
	var out []string
	for _, a := range algs {
		a = strings.ToUpper(strings.TrimSpace(a))
		if _, ok := algorithmRank[a]; !ok {
			return nil, fmt.Errorf("digest algorithm %q: want %s or %s", a, AlgorithmSHA256, AlgorithmMD5)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no digest algorithm")
	}
	slices.SortFunc(out, func(a, b string) int { return algorithmRank[a] - algorithmRank[b] })
	return out, nil
}

// ParseAlgorithms reads a comma list such as "SHA-256,MD5" (a flag's value).
func ParseAlgorithms(list string) ([]string, error) {
	var algs []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			algs = append(algs, a)
		}
	}
	return normalizeAlgorithms(algs)
}
