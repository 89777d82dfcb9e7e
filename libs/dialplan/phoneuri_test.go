package dialplan_test

import (
	"errors"
	"testing"

	"github.com/ringback/ringback/libs/dialplan"
)

func TestPhoneURI(t *testing.T) {
	t.Parallel()
	def, err := dialplan.ParseHosts("")
	if err != nil {
		t.Fatal(err)
	}
	corp, err := dialplan.ParseHosts("203.0.113.0/24,*.corp.example,pbx.example.net")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uri   string
		hosts dialplan.Hosts
		ok    bool
	}{
		{"sip:agent1@127.0.0.1:5070", def, true},
		{"sip:agent1@10.0.0.7", def, true},
		{"sip:agent1@192.168.1.20:5060;transport=udp", def, true},
		{"sip:agent1@[::1]:5060", def, true},
		{"sip:a1@h", def, true},
		{"sip:1001@pbx", def, true},
		{"sip:agent1@198.51.100.7:5060", def, false}, // outside host
		{"sip:agent1@sip.example.com", def, false},   // outside name
		{"sip:agent1@127.0.0.1:5070?X-Injected=1", def, false},
		{"sip:agent1@127.0.0.1;x=1?X-Injected=1", def, false},
		{"sip:+19005550123@127.0.0.1:5060", def, false}, // premium at a (trunk) host
		{"sip:+1911@10.0.0.1", def, false},
		{"sip:911@pbx", def, false},
		{"sip:112@10.0.0.1", def, false},
		{"sip:+14155550123@10.0.0.1", def, true},
		{"sips:agent1@127.0.0.1", def, false},
		{"tel:+14155550123", def, false},
		{"sip:@127.0.0.1", def, false},
		{"sip:agent1@127.0.0.1\r\nX: 1", def, false},
		{"sip:a@b@127.0.0.1", def, false},
		{"sip:agent1@203.0.113.9", corp, true},
		{"sip:agent1@phone7.corp.example", corp, true},
		{"sip:agent1@pbx.example.net:5080", corp, true},
		{"sip:agent1@127.0.0.1", corp, false},
		{"sip:agent1@evil.example.net", corp, false},
	} {
		err := dialplan.PhoneURI(tc.uri, tc.hosts)
		if (err == nil) != tc.ok {
			t.Errorf("PhoneURI(%q) = %v, want ok %v", tc.uri, err, tc.ok)
		}
		if err != nil && !errors.Is(err, dialplan.ErrPhoneURI) {
			t.Errorf("PhoneURI(%q) = %v, not ErrPhoneURI", tc.uri, err)
		}
	}
	if _, err := dialplan.ParseHosts("10.0.0.0/8,not a host"); err == nil {
		t.Error("ParseHosts accepted a malformed host")
	}
}
