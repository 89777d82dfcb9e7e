package history

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/proto/catalog"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/history/timeline"
)

// The claims on numbers history leaves undecoded tie to no callback: they
// name no callback or interaction, and intake writes them without the
// callback's correlation (admit.go), so handle recorded none of them.
func TestClaimsOnNumbersAreNoStepOfACallback(t *testing.T) {
	except := Except[envelope.TopicOf("intake")]
	for _, m := range []proto.Message{&callbackv1.ContactClaimed{Holder: "cb-1", Service: "support"},
		&callbackv1.ContactReleased{Holder: "cb-1"}, &callbackv1.ContactKeyCreated{Key: []byte("k")}} {
		if f := timeline.FactsOf(m); f != (timeline.Facts{}) {
			t.Errorf("%s ties to %+v", catalog.TypeName(m), f)
		}
		if !slices.Contains(except, catalog.TypeName(m)) {
			t.Errorf("%s is not left out", catalog.TypeName(m))
		}
	}
	if len(except) != 3 {
		t.Errorf("Except leaves out %v: only the claims on numbers belong there", except)
	}
}
