package intake

import (
	"net/http"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies, err := parsePrefixes("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		peer    string
		xff     []string
		proxies bool
		want    string
	}{
		{name: "no proxies: the peer", peer: "203.0.113.7:5555", xff: []string{"1.2.3.4"}, want: "203.0.113.7"},
		{name: "untrusted peer: its XFF ignored", peer: "203.0.113.7:5555", xff: []string{"1.2.3.4"}, proxies: true, want: "203.0.113.7"},
		{name: "trusted peer: the hop before it", peer: "10.1.2.3:80", xff: []string{"198.51.100.9"}, proxies: true, want: "198.51.100.9"},
		{name: "made-up hops left of the real one", peer: "10.1.2.3:80", xff: []string{"1.2.3.4, 198.51.100.9"}, proxies: true, want: "198.51.100.9"},
		{name: "through two trusted proxies", peer: "10.1.2.3:80", xff: []string{"198.51.100.9, 192.168.1.1", "10.9.9.9"}, proxies: true, want: "198.51.100.9"},
		{name: "all trusted: the left-most", peer: "10.1.2.3:80", xff: []string{"10.0.0.1, 10.0.0.2"}, proxies: true, want: "10.0.0.1"},
		{name: "no XFF from a trusted peer: the peer", peer: "10.1.2.3:80", proxies: true, want: "10.1.2.3"},
		{name: "garbage hop stops the walk", peer: "10.1.2.3:80", xff: []string{"198.51.100.9, nonsense, 10.0.0.5"}, proxies: true, want: "10.0.0.5"},
		{name: "IPv6 peer", peer: "[2001:db8::1]:443", want: "2001:db8::1"},
		{name: "IPv4-mapped is IPv4", peer: "[::ffff:203.0.113.7]:443", want: "203.0.113.7"},
		{name: "IPv6 hop with port", peer: "[fd00::1]:80", xff: []string{"[2001:db8::5]:1234"}, proxies: true, want: "2001:db8::5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/v1/callbacks", nil)
			r.RemoteAddr = tc.peer
			for _, h := range tc.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			p := proxies
			if !tc.proxies {
				p = nil
			}
			if got := clientAddr(r, p); got != tc.want {
				t.Fatalf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := parsePrefixes("10.0.0.0/8,nope"); err == nil {
		t.Fatal("parsePrefixes accepted nope")
	}
}
