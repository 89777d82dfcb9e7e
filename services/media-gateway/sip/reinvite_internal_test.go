package sip

import (
	"context"
	"errors"
	"testing"
)

// A peer whose answer makes diago panic (a 200 without Contact) costs that
// one operation an error, never the gateway.
func TestReinvitePanicBecomesAnError(t *testing.T) {
	err := reinvite(context.Background(), func(context.Context) error {
		var contact *struct{ Address string }
		_ = contact.Address // what diago does with a missing Contact header
		return nil
	})
	if !errors.Is(err, errBadReinviteAnswer) {
		t.Fatalf("err = %v, want errBadReinviteAnswer", err)
	}
	if err := reinvite(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("a good answer: %v", err)
	}
}
