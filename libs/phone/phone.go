// Package phone holds what every service does with a phone number and needs
// nothing else for: masking it for people and logs.
package phone

import "strings"

// Mask hides all but the country-code prefix and the last two digits of a
// phone number: logs, traces, metrics and third parties' displays never
// carry one unmasked.
func Mask(n string) string {
	if len(n) <= 6 {
		return strings.Repeat("*", len(n))
	}
	return n[:4] + strings.Repeat("*", len(n)-6) + n[len(n)-2:]
}
