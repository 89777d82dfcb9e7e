package phone

import "regexp"

var (
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	contact = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// IsE164 says whether n is written as ITU-T E.164 allows: "+", a country
// code that does not start with 0, at most 15 digits in all. Short numbers
// pass ("+112"), so that the dial plan can name why they are refused
// (an emergency number) instead of calling them malformed.
func IsE164(n string) bool { return e164.MatchString(n) }

// IsContactNumber says whether n can be a contact's number: E.164 with at
// least 7 digits, the shortest full international number in use. It is
// what a callback may be asked for and a contact's history looked up by.
func IsContactNumber(n string) bool { return contact.MatchString(n) }
