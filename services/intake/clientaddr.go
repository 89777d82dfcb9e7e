package intake

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// parsePrefixes reads a comma list of CIDRs (and bare addresses, taken as
// one address) for --intake.trusted-proxies.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an address", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address a request is limited by: the peer's, unless
// the peer is a trusted proxy; then the nearest hop of X-Forwarded-For
// that is not a trusted proxy, read from the right. The right, not the
// left: every proxy appends the address it received from, so the hops
// our own proxies wrote are at the right end and true, and what is left
// of them the client wrote and may have made up. A client that sends
// "X-Forwarded-For: 1.2.3.4" through our proxy is known by its own
// address, not 1.2.3.4. An unparsable hop ends the walk at the hop before
// it. A peer that is not trusted has its X-Forwarded-For ignored, so a
// client reaching a replica directly cannot choose its key.
func clientAddr(r *http.Request, proxies []netip.Prefix) string {
	peer := hostAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if len(proxies) == 0 || !trusted(peer, proxies) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := hostAddr(strings.TrimSpace(parts[j]))
			if !a.IsValid() {
				return client.String()
			}
			client = a
			if !trusted(a, proxies) {
				return a.String()
			}
		}
	}
	return client.String() // all trusted: the left-most hop
}

// hostAddr parses "ip", "ip:port" or "[ip6]:port"; IPv4-mapped IPv6 is
// taken as IPv4, so one client is one key however it is written.
func hostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
