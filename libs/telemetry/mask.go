package telemetry

import "strings"

// MaskPhone hides all but the country-code prefix and the last two digits
// of a phone number: logs, traces and metrics never carry one unmasked.
func MaskPhone(n string) string {
	if len(n) <= 6 {
		return strings.Repeat("*", len(n))
	}
	return n[:4] + strings.Repeat("*", len(n)-6) + n[len(n)-2:]
}
