package mediagateway

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ringback/ringback/libs/httpx"
)

func TestSDPText(t *testing.T) {
	ok := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	raw, _ := json.Marshal(ok)
	if got, err := sdpText(raw); err != nil || got != ok {
		t.Fatalf("sdpText(offer) = %q, %v", got, err)
	}
	for _, bad := range []string{`"o=- 1 2"`, `12`, `"v=0\r\na=x\u0000"`, `"v=0\u2028"`} {
		var p *httpx.Problem
		if _, err := sdpText(json.RawMessage(bad)); !errors.As(err, &p) || p.Field != "sdp" {
			t.Errorf("sdpText(%s) = %v, want a 400 naming sdp", bad, err)
		}
	}
}
