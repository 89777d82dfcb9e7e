// Package index is the pure domain of history's lookups that outlive its
// bounded memory: stream history-interaction-<interaction id> (which
// callback an interaction belongs to) and stream history-contact-<key>
// (the callbacks of a contact, key an HMAC of the number). Both are
// written before the event they index is recorded, so that whatever a
// callback's trail holds can be found from the store once the callback
// has left memory. No I/O, no clock.
package index

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/streams"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
)

// Stream prefixes. KeyStream holds the key of the contact streams' names
// (no HMAC in hex is "key").
const (
	InteractionPrefix = streams.HistoryInteraction
	ContactPrefix     = streams.HistoryContact
	KeyStream         = ContactPrefix + "key"
)

// KeySize is the HMAC key's length in bytes.
const KeySize = 32

// InteractionStream names the index of an interaction.
func InteractionStream(interactionID string) string { return InteractionPrefix + interactionID }

// ContactStream names the index of a contact. An HMAC of the number, not
// the number: stream names travel as Kafka keys and in logs and traces,
// where a phone number must never appear (DESIGN.md, section 2); a plain
// hash of a space as small as phone numbers is reversed by hashing them
// all. 128 bits of the MAC keep numbers apart.
func ContactStream(key []byte, number string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(number))
	return ContactPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// Links is an index stream folded: the callbacks it names, in the order
// they were linked (one for an interaction).
type Links []string

// Link names a callback in an index stream.
type Link struct {
	InteractionID string // set for an interaction's index, "" for a contact's
	CallbackID    string
}

// Decide links the callback unless the stream names it already. An
// interaction belongs to one callback: a second callback is not linked.
func Decide(s Links, c Link) ([]proto.Message, error) {
	if c.CallbackID == "" {
		return nil, fmt.Errorf("index: link needs a callback id")
	}
	if slices.Contains(s, c.CallbackID) {
		return nil, nil
	}
	if c.InteractionID != "" {
		if len(s) > 0 {
			return nil, nil
		}
		return []proto.Message{&historyv1.InteractionLinked{InteractionId: c.InteractionID, CallbackId: c.CallbackID}}, nil
	}
	return []proto.Message{&historyv1.ContactLinked{CallbackId: c.CallbackID}}, nil
}

// Evolve applies one event. It never fails and ignores unknown events. It
// never changes the slice it is given in place, so folded Links may be
// shared.
func Evolve(s Links, e proto.Message) Links {
	var id string
	switch e := e.(type) {
	case *historyv1.InteractionLinked:
		id = e.CallbackId
	case *historyv1.ContactLinked:
		id = e.CallbackId
	default:
		return s
	}
	if slices.Contains(s, id) {
		return s
	}
	return append(slices.Clip(s), id)
}

// KeyOf folds the key stream: the first key written is the key.
func KeyOf(key []byte, e proto.Message) []byte {
	if k, ok := e.(*historyv1.ContactKeyCreated); ok && key == nil {
		return k.Key
	}
	return key
}

// DecideKey writes key (drawn by the caller) unless there is one already.
func DecideKey(current, drawn []byte) ([]proto.Message, error) {
	if current != nil {
		return nil, nil
	}
	if len(drawn) != KeySize {
		return nil, fmt.Errorf("index: key must be %d bytes, got %d", KeySize, len(drawn))
	}
	return []proto.Message{&historyv1.ContactKeyCreated{Key: drawn}}, nil
}
