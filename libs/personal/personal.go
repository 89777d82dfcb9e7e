// Package personal makes a contact's personal data erasable by
// crypto-shredding (issue 16, point 9). The fields the event schemas mark
// with the (ringback.personal.v1.personal) option are sealed with AES-256-GCM
// under a key of the contact's own before an event is stored, so the store
// files and the bus topics hold only ciphertext; they are opened again when
// an event is read or consumed. Destroying the contact's key (Erase) leaves
// every event in place for audit and analytics, and its personal fields
// read as Erased everywhere from then on.
//
// The key of a contact is named by a keyed hash of its number (KeyID), so
// that a key id reveals nothing. An event that names no number (a note, case
// data) is sealed with the key its correlation (the callback) was linked to
// when the callback's first event, which carries the number, was sealed.
//
// It owns the Sealer, the KeyStore port with its adapters (a directory, a
// PostgreSQL table) and the seams that apply it: a Store decorator, the
// opening of consumed messages (Sealer.OpenMessage) and a Publisher
// decorator. It must not import a service.
package personal

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ringback/ringback/libs/generations"
)

// Erased is what a personal string reads as once its key is destroyed.
// Personal bytes read as empty.
const Erased = "[erased]"

// prefix starts every sealed string; sealed bytes start with bytesPrefix.
const (
	prefix      = "rbp1:"
	bytesPrefix = "rbp1\x00"
	keyIDLen    = 16
	nonceLen    = 12
)

// ErrNoContact is returned by Seal for an event with personal values that
// names no number and whose correlation was never linked to a contact:
// storing it would keep personal data no erasure could reach.
var ErrNoContact = errors.New("personal data of no known contact")

// Sealer seals and opens the personal fields of events. It is safe for
// concurrent use. Keys are cached for CacheTTL: a key destroyed by another
// replica is still used here until its entry expires, which bounds how long
// an erasure takes to reach every replica.
type Sealer struct {
	keys   KeyStore
	secret []byte // names keys: KeyID = HMAC(secret, number)
	ttl    time.Duration
	now    func() time.Time
	// maxKeys bounds cache (maxKeys; a test's few).
	maxKeys int

	macs sync.Pool // of KeyID's HMACs, reset rather than made (and their pads hashed) per number

	mu     sync.Mutex
	cache  map[string]cachedKey // key id →
	links  map[string]string    // correlation → key id (links never change)
	opened openCache            // events opened lately, while their keys stay
}

type cachedKey struct {
	aead    cipher.AEAD // nil: there is no key (never made, or destroyed)
	key     []byte
	expires time.Time
}

// CacheTTL is how long a key (or its absence) is trusted without asking the
// key store again.
const CacheTTL = 10 * time.Second

// maxKeys bounds the keys cached in memory (a cipher each, about 0.8 KB,
// so 3 MB at most): the contacts of the last second or so on a busy
// platform, whose events the consumers open right after they are written.
// A key dropped is read from the key store again (a small file, or a row).
const maxKeys = 4096

// maxLinks bounds the links remembered in memory (about 150 B each, so
// 2.5 MB); past it they are forgotten and asked of the key store again.
// Only an event that names no number needs one, mostly soon after its
// callback's first: the last few seconds of callbacks are enough.
const maxLinks = 16_384

// NewSealer returns a Sealer over keys naming keys with secret (at least
// 32 bytes, from the operator's secret, see DeriveSecrets).
func NewSealer(keys KeyStore, secret []byte) (*Sealer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("personal: key-id secret of %d bytes, want at least 32", len(secret))
	}
	return &Sealer{keys: keys, secret: secret, ttl: CacheTTL, now: time.Now, maxKeys: maxKeys,
		cache: map[string]cachedKey{}, links: map[string]string{},
		opened: openCache{m: generations.Map[string, openEntry]{Size: openCacheSize}}}, nil
}

// KeyID names the key of the contact with number: a keyed hash of the
// normalised number, so neither the key store nor the events reveal it.
func (s *Sealer) KeyID(number string) string {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.secret)
	}
	m.Reset()
	m.Write([]byte(Normalize(number)))
	var sum [sha256.Size]byte
	id := hex.EncodeToString(m.Sum(sum[:0])[:keyIDLen])
	s.macs.Put(m)
	return id
}

// Normalize keeps the leading + and the digits of a number, so that
// "+1 415-555 0123" and "+14155550123" name one contact.
func Normalize(number string) string {
	var b strings.Builder
	for i, r := range number {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Erase destroys the key of the contact with number and forgets it here;
// it returns the key id, which the caller records (ContactErased).
func (s *Sealer) Erase(ctx context.Context, number string) (string, error) {
	id := s.KeyID(number)
	if err := s.keys.Destroy(ctx, id); err != nil {
		return id, fmt.Errorf("destroy key: %w", err)
	}
	s.Forget(id)
	return id, nil
}

// Forget drops the cached key id, so that the next use asks the key store.
// A replica that learns of an erasure (ContactErased) calls it.
func (s *Sealer) Forget(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
	s.opened.clear()
}

// Sealable says whether events of the type can hold personal data; those
// that cannot are never decoded here.
func Sealable(typeName string) bool { return isSealable(typeName) }

// Seal replaces every personal value of m, in place, by its ciphertext under
// the contact's key. The contact is the number in m, else the one
// correlation was linked to; a number with a correlation links them.
// Empty values stay empty: they reveal nothing.
func (s *Sealer) Seal(ctx context.Context, m proto.Message, correlation string) error {
	_, _, err := s.seal(ctx, m, correlation)
	return err
}

// seal is Seal, also saying whether any value was sealed.
func (s *Sealer) seal(ctx context.Context, m proto.Message, correlation string) (bool, []keyRef, error) {
	p := planFor(m.ProtoReflect().Descriptor())
	if p == nil {
		return false, nil, nil
	}
	var (
		id     string
		aead   cipher.AEAD
		linked chan error // the link's put, when one was started
		refs   []keyRef   // of the copies taken sealed (sealedOf)
	)
	key := func() (string, cipher.AEAD, error) {
		if aead != nil {
			return id, aead, nil
		}
		if id == "" {
			var err error
			if id, err = s.linked(ctx, correlation); err != nil {
				return "", nil, fmt.Errorf("seal %s (correlation %q): %w", m.ProtoReflect().Descriptor().FullName(), correlation, err)
			}
		}
		a, err := s.aead(ctx, id, true)
		if err != nil {
			return "", nil, err
		}
		aead = a
		return id, aead, nil
	}
	w := walker{
		sealedOf: func(id string, data []byte) ([]byte, bool) {
			e, ok := s.sealedOf(id, data)
			if ok {
				refs = addRefs(refs, e.refs...)
			}
			return e.sealed, ok
		},
		contact: func(number string) error {
			if id != "" || number == "" {
				return nil
			}
			id = s.KeyID(number)
			// The link is written while the key is made (key, below): two
			// puts, each a file synced, side by side rather than one after
			// the other, as a new contact's first event waits for both
			// (issue 12). Both are durable before seal returns.
			linked = make(chan error, 1)
			go func() { linked <- s.link(ctx, correlation, id) }()
			return nil
		},
		str: func(fd protoreflect.FieldDescriptor, v string) (string, error) {
			id, a, err := key()
			if err != nil {
				return "", err
			}
			ct, err := seal(a, id, fd, []byte(v))
			if err != nil {
				return "", err
			}
			return prefix + base64.RawURLEncoding.EncodeToString(ct), nil
		},
		bytes: func(fd protoreflect.FieldDescriptor, v []byte) ([]byte, error) {
			id, a, err := key()
			if err != nil {
				return nil, err
			}
			ct, err := seal(a, id, fd, v)
			if err != nil {
				return nil, err
			}
			return append([]byte(bytesPrefix), ct...), nil
		},
	}
	err := w.walk(m.ProtoReflect(), p)
	if linked != nil {
		if lerr := <-linked; err == nil {
			err = lerr
		}
	}
	if aead != nil {
		refs = addRefs(refs, keyRef{id: id, aead: aead})
	}
	return w.changed, refs, err
}

// addRefs adds to refs those of more it does not hold.
func addRefs(refs []keyRef, more ...keyRef) []keyRef {
	for _, r := range more {
		if !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
	}
	return refs
}

// Open replaces every sealed value of m, in place, by its plaintext, or by
// Erased when its key is gone. Values stored before sealing existed are left
// as they are. It fails only when the key store cannot be asked.
func (s *Sealer) Open(ctx context.Context, m proto.Message) error {
	_, _, err := s.openRefs(ctx, m)
	return err
}

// keyRef is a key an opened value depended on, as the cipher it was opened
// with: the value stays valid as long as the Sealer holds that cipher.
type keyRef struct {
	id   string
	aead cipher.AEAD
}

// openRefs is Open, also returning the keys the plaintext came from and
// whether any value was opened.
func (s *Sealer) openRefs(ctx context.Context, m proto.Message) ([]keyRef, bool, error) {
	p := planFor(m.ProtoReflect().Descriptor())
	if p == nil {
		return nil, false, nil
	}
	var refs []keyRef
	open := func(fd protoreflect.FieldDescriptor, raw []byte) ([]byte, bool, error) {
		pt, ref, ok, err := s.open(ctx, fd, raw)
		if ref.aead != nil {
			refs = addRefs(refs, ref)
		}
		return pt, ok, err
	}
	w := walker{
		str: func(fd protoreflect.FieldDescriptor, v string) (string, error) {
			if !strings.HasPrefix(v, prefix) {
				return v, nil
			}
			raw, err := base64.RawURLEncoding.DecodeString(v[len(prefix):])
			if err != nil {
				return Erased, nil //nolint:nilerr // not a sealed value: reads as erased
			}
			pt, ok, err := open(fd, raw)
			if err != nil || !ok {
				return Erased, err
			}
			return string(pt), nil
		},
		bytes: func(fd protoreflect.FieldDescriptor, v []byte) ([]byte, error) {
			if !strings.HasPrefix(string(v), bytesPrefix) {
				return v, nil
			}
			pt, ok, err := open(fd, v[len(bytesPrefix):])
			if err != nil || !ok {
				return nil, err
			}
			return pt, nil
		},
	}
	err := w.walk(m.ProtoReflect(), p)
	return refs, w.changed, err
}

// open returns the plaintext of a sealed value, ok false when it reads as
// erased, and the key it depended on (none once the key is gone: then it
// is erased for good).
func (s *Sealer) open(ctx context.Context, fd protoreflect.FieldDescriptor, raw []byte) (pt []byte, ref keyRef, ok bool, err error) {
	if len(raw) < keyIDLen+nonceLen {
		return nil, keyRef{}, false, nil
	}
	id := hex.EncodeToString(raw[:keyIDLen])
	a, err := s.aead(ctx, id, false)
	if err != nil || a == nil {
		return nil, keyRef{}, false, err
	}
	ref = keyRef{id: id, aead: a}
	pt, err = a.Open(nil, raw[keyIDLen:keyIDLen+nonceLen], raw[keyIDLen+nonceLen:], aad(id, fd))
	if err != nil {
		// Sealed under an earlier key of the same contact, destroyed since:
		// erased as well.
		return nil, ref, false, nil //nolint:nilerr // sealed under a key destroyed since: erased
	}
	return pt, ref, true, nil
}

// seal is keyID ‖ nonce ‖ AES-GCM(value), authenticated with the key id and
// the field's name so a value cannot be moved to another field or contact.
func seal(a cipher.AEAD, id string, fd protoreflect.FieldDescriptor, v []byte) ([]byte, error) {
	out := make([]byte, keyIDLen+nonceLen, keyIDLen+nonceLen+len(v)+a.Overhead())
	// A key id read back from a damaged key store would seal under a
	// prefix that names no key: refused rather than sealed unreadable.
	if len(id) != 2*keyIDLen {
		return nil, fmt.Errorf("seal %s: key id %q is not %d hex digits", fd.FullName(), id, 2*keyIDLen)
	}
	if _, err := hex.Decode(out[:keyIDLen], []byte(id)); err != nil {
		return nil, fmt.Errorf("seal %s: key id %q: %w", fd.FullName(), id, err)
	}
	_, _ = rand.Read(out[keyIDLen:]) // crypto/rand.Read never fails (Go 1.24)
	return a.Seal(out, out[keyIDLen:], v, aad(id, fd)), nil
}

func aad(id string, fd protoreflect.FieldDescriptor) []byte {
	return []byte(id + "/" + string(fd.FullName()))
}

// aead returns the cipher of key id; with create a missing key is made,
// without it nil means there is none.
func (s *Sealer) aead(ctx context.Context, id string, create bool) (cipher.AEAD, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok && now.Before(c.expires) && (c.aead != nil || !create) {
		return c.aead, nil
	}
	k, err := s.keys.Key(ctx, id, create)
	switch {
	case errors.Is(err, ErrNoKey) && !create:
		k = nil
	case err != nil:
		return nil, fmt.Errorf("key %s: %w", id, err)
	}
	var a cipher.AEAD
	switch {
	case k != nil && c.aead != nil && bytes.Equal(k, c.key):
		// The same key: the same cipher, so what was opened with it stays
		// valid in s.opened.
		a = c.aead
	case k != nil:
		if a, err = newAEAD(k); err != nil {
			return nil, fmt.Errorf("key %s: %w", id, err)
		}
	}
	s.mu.Lock()
	if _, ok := s.cache[id]; !ok && len(s.cache) >= s.maxKeys {
		s.shrinkLocked(now)
	}
	s.cache[id] = cachedKey{aead: a, key: k, expires: now.Add(s.ttl)}
	s.mu.Unlock()
	return a, nil
}

// shrinkLocked makes room in the key cache: the expired entries go (each
// new contact adds one, so without this the cache grew by a key and its
// cipher, about 1.4 KB, with every callback: issue 12), then, if the
// cache is still three quarters full, any. A key dropped early is read
// from the key store again when next needed. Caller holds mu.
func (s *Sealer) shrinkLocked(now time.Time) {
	for id, c := range s.cache {
		if !now.Before(c.expires) {
			delete(s.cache, id)
		}
	}
	for id := range s.cache {
		if len(s.cache) < s.maxKeys*3/4 {
			break
		}
		delete(s.cache, id)
	}
}

func (s *Sealer) link(ctx context.Context, correlation, id string) error {
	if correlation == "" {
		return nil
	}
	s.mu.Lock()
	known := s.links[correlation] == id
	s.mu.Unlock()
	if known {
		return nil
	}
	if err := s.keys.Link(ctx, correlation, id); err != nil {
		return fmt.Errorf("link %s: %w", correlation, err)
	}
	s.remember(correlation, id)
	return nil
}

func (s *Sealer) linked(ctx context.Context, correlation string) (string, error) {
	if correlation == "" {
		return "", ErrNoContact
	}
	s.mu.Lock()
	id := s.links[correlation]
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	id, err := s.keys.Linked(ctx, correlation)
	if errors.Is(err, ErrNoKey) {
		return "", ErrNoContact
	}
	if err != nil {
		return "", fmt.Errorf("link of %s: %w", correlation, err)
	}
	s.remember(correlation, id)
	return id, nil
}

func (s *Sealer) remember(correlation, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.links) >= maxLinks {
		clear(s.links)
	}
	s.links[correlation] = id
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
