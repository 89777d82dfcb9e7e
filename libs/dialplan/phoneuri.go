package dialplan

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Hosts are where agents' phones may be: networks (CIDR) and host names
// ("pbx.corp.example", or "*.corp.example" for any name under it).
type Hosts struct {
	nets  []netip.Prefix
	names []string
}

// DefaultHosts are the hosts of a phone on the contact center's own network:
// loopback, private (RFC 1918, RFC 4193) and link-local addresses, and
// single-label names ("pbx", "localhost") that only an intranet resolves.
const DefaultHosts = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,fc00::/7,fe80::/10"

// ParseHosts reads a comma list of CIDRs and host names; "" is DefaultHosts
// with single-label names.
func ParseHosts(list string) (Hosts, error) {
	var h Hosts
	if strings.TrimSpace(list) == "" {
		list = DefaultHosts
		h.names = append(h.names, singleLabel)
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			h.nets = append(h.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			h.nets = append(h.nets, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if !hostName(strings.TrimPrefix(item, "*.")) {
			return Hosts{}, fmt.Errorf("phone hosts: %q is not a CIDR, an address or a host name", item)
		}
		h.names = append(h.names, item)
	}
	return h, nil
}

// singleLabel stands for any host name without a dot.
const singleLabel = "<single-label>"

func hostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (h Hosts) allows(host string) bool {
	host = strings.ToLower(host)
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		for _, p := range h.nets {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	if !hostName(host) {
		return false
	}
	for _, n := range h.names {
		switch {
		case n == singleLabel && !strings.Contains(host, "."):
			return true
		case strings.HasPrefix(n, "*.") && strings.HasSuffix(host, n[1:]):
			return true
		case n == host:
			return true
		}
	}
	return false
}

// ErrPhoneURI is the reason of every refused phone URI (errors.Is).
var ErrPhoneURI = errors.New("phone URI refused")

// PhoneURIError says what is wrong with an agent's phone URI.
type PhoneURIError struct{ Reason string }

func (e *PhoneURIError) Error() string { return e.Reason }
func (e *PhoneURIError) Unwrap() error { return ErrPhoneURI }

// PhoneURI checks an agent's phone URI: sip:user@host[:port][;params], no
// URI headers (they would be copied into our INVITE), a host in hosts, and
// a user part that is no emergency number anywhere and, written as E.164,
// not a number Forbidden refuses (a phone "at the trunk").
func PhoneURI(uri string, hosts Hosts) error {
	rest, ok := strings.CutPrefix(uri, "sip:")
	if !ok {
		return &PhoneURIError{"must be a SIP URI such as sip:agent1@10.0.0.7:5060"}
	}
	if strings.ContainsAny(rest, "?") {
		return &PhoneURIError{"must not carry URI headers (?...)"}
	}
	for _, c := range rest {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' {
			return &PhoneURIError{"must not hold spaces, control characters, <, > or quotes"}
		}
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i] // URI parameters (;transport=udp) stay
	}
	user, hostport, ok := strings.Cut(rest, "@")
	if !ok || user == "" || strings.Contains(hostport, "@") {
		return &PhoneURIError{"must name a user and a host: sip:agent1@10.0.0.7:5060"}
	}
	host := hostport
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return &PhoneURIError{"has a malformed IPv6 host"}
		}
		host = host[:end+1]
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if !hosts.allows(host) {
		return &PhoneURIError{"host is not one where agents' phones may be (see the phone hosts configuration)"}
	}
	digits := strings.TrimPrefix(user, "+")
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		if len(digits) <= maxShort {
			for _, region := range allRegions {
				if phonenumbers.IsEmergencyNumber(digits, region) {
					return &PhoneURIError{"user part is an emergency number"}
				}
			}
		}
		if strings.HasPrefix(user, "+") {
			var re *RefusedError
			if err := Forbidden(user); errors.As(err, &re) {
				return &PhoneURIError{"user part is " + re.Reason.Error()}
			}
		}
	}
	return nil
}
