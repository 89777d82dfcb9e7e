package sip

import "testing"

func TestParseCredentials(t *testing.T) {
	ok := `Digest username="a1", realm="ringback", nonce="n1", uri="sip:127.0.0.1:5060", response="abc", algorithm=MD5, qop=auth, nc=00000001, cnonce="x,y\"z"`
	c, err := parseCredentials(ok)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := credentials{username: "a1", realm: "ringback", nonce: "n1", uri: "sip:127.0.0.1:5060", response: "abc",
		algorithm: "MD5", qop: "auth", nc: "00000001", cnonce: `x,y"z`}
	if c != want {
		t.Errorf("parsed %+v, want %+v", c, want)
	}
	for _, bad := range []string{
		"",
		"Basic YTE6cGFzcw==",
		`Digest username="a1"`, // no nonce, uri, response
		`Digest username="a1, realm="r", nonce="n", uri="u", response="r"`,      // unterminated
		`Digest username="a1" realm="r", nonce="n", uri="u", response="r"`,      // missing comma
		`Digest username="a1", username="a2", nonce="n", uri="u", response="r"`, // twice
		`Digest username="a1", nonce="n", uri="u", response="r", junk`,          // no value
	} {
		if _, err := parseCredentials(bad); err == nil {
			t.Errorf("parseCredentials(%q) passed", bad)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="a1", realm="ringback", nonce="n1", uri="sip:h", response="abc", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest a="\"`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCredentials(s)
		if err == nil && (c.username == "" || c.nonce == "" || c.uri == "" || c.response == "") {
			t.Errorf("parsed %+v without a required parameter", c)
		}
	})
}

func TestDTMFCodes(t *testing.T) {
	got, err := dtmfCodes("0123456789*#ABCD")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range got {
		if int(c) != i {
			t.Errorf("digit %d encoded as event %d", i, c)
		}
	}
}
