package streams

import (
	"regexp"
	"strings"
	"testing"
)

// The services that own streams: the first word of a stream is its owner's,
// and the topic it is published to.
var owners = map[string]bool{"intake": true, "scheduler": true, "router": true, "agent": true,
	"media": true, "history": true, "disposition": true}

var shape = regexp.MustCompile(`^([a-z]+)-[a-z]+-$`)

func TestEveryStreamIsServiceNounID(t *testing.T) {
	for _, p := range All {
		m := shape.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("%q is not <service>-<noun>-", p)
			continue
		}
		if !owners[m[1]] {
			t.Errorf("%q: %q owns no stream", p, m[1])
		}
	}
}

// A reader taking one prefix must not take another kind of stream with it
// (agent-<id> took agent-interaction-<id> for an agent "interaction-x").
func TestNoPrefixShadowsAnother(t *testing.T) {
	for i, a := range All {
		for j, b := range All {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("%q is a prefix of %q", a, b)
			}
		}
	}
}
