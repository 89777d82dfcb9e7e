// Package selflink signs and checks the visitor's self-service links: a
// token that lets its holder see, reschedule or cancel one callback, and
// nothing else, until it expires (issue 12).
//
// A token is "<kid>.<callback id>.<expiry, unix seconds>.<mac>", where mac
// is HMAC-SHA256, base64url without padding, over the key id, the callback
// id and the expiry. The key id names the key that signed it, so keys
// rotate: a Keys holds one signing key and any number of older keys that
// still verify, and a link signed with a key that is no longer listed is
// refused. Nothing is stored: any replica with the same keys checks any
// token, and a token is only as good as its expiry.
//
// The order of the checks matters: the signature is checked before the
// expiry, so a tampered expiry is a forgery (ErrForged), never "expired".
package selflink

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Errors of Verify. ErrForged and ErrUnknownKey are a 403 to the holder,
// ErrExpired a 410.
var (
	ErrForged     = errors.New("self-service link: not a valid link")
	ErrUnknownKey = errors.New("self-service link: signed with a key that is no longer accepted")
	ErrExpired    = errors.New("self-service link: expired")
)

// MinSecret is the shortest secret a key may have.
const MinSecret = 32

// kidPattern: a key id is short and safe in a URL and in a file line.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Key is one HMAC key and its id.
type Key struct {
	ID     string
	Secret []byte
}

// Keys is the current signing key and the older keys that still verify.
type Keys struct {
	sign   Key
	verify map[string][]byte
}

// NewKeys builds a key set: the first key signs, every key verifies. Ids
// are unique, secrets at least MinSecret bytes.
func NewKeys(sign Key, older ...Key) (*Keys, error) {
	k := &Keys{sign: sign, verify: map[string][]byte{}}
	for _, key := range append([]Key{sign}, older...) {
		if !kidPattern.MatchString(key.ID) {
			return nil, fmt.Errorf("self-service link key %q: an id is 1 to 32 letters, digits, '-' or '_'", key.ID)
		}
		if len(key.Secret) < MinSecret {
			return nil, fmt.Errorf("self-service link key %q: the secret must be at least %d bytes, got %d", key.ID, MinSecret, len(key.Secret))
		}
		if _, dup := k.verify[key.ID]; dup {
			return nil, fmt.Errorf("self-service link key %q: listed twice", key.ID)
		}
		k.verify[key.ID] = key.Secret
	}
	return k, nil
}

// Derive is the link key of the operator's secret (the binary's
// --personal.secret-file), apart from every other key derived from it. Its
// id is a digest of the key, so a new secret gives a new id and the links
// of the old one are refused as signed with an unknown key.
func Derive(secret []byte) (Key, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, "ringback self-service links v1", 32)
	if err != nil {
		return Key{}, fmt.Errorf("self-service link key: %w", err)
	}
	sum := sha256.Sum256(k)
	return Key{ID: "d" + base64.RawURLEncoding.EncodeToString(sum[:6]), Secret: k}, nil
}

// ParseFile reads a keys file: one "kid:secret" a line, blank lines and
// lines starting with # ignored. The last key listed is the newest: it
// signs, and the others verify (rotate by appending a line, retire by
// removing one). The secret is taken as written (at least MinSecret bytes).
func ParseFile(text string) ([]Key, error) {
	var keys []Key
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kid, secret, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want kid:secret", i+1)
		}
		keys = append(keys, Key{ID: strings.TrimSpace(kid), Secret: []byte(strings.TrimSpace(secret))})
	}
	if len(keys) == 0 {
		return nil, errors.New("no key listed")
	}
	for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
		keys[i], keys[j] = keys[j], keys[i] // newest first
	}
	return keys, nil
}

// SigningID is the id of the key that signs.
func (k *Keys) SigningID() string { return k.sign.ID }

// Sign is the token for callback id, valid until expires (to the second).
func (k *Keys) Sign(id string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return k.sign.ID + "." + id + "." + exp + "." + mac(k.sign.Secret, k.sign.ID, id, exp)
}

// Claims are what a valid token says.
type Claims struct {
	KeyID    string
	Callback string
	Expires  time.Time
}

// Verify checks token at now: forged or unknown key first, then expired.
func (k *Keys) Verify(token string, now time.Time) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || len(token) > 256 {
		return Claims{}, ErrForged
	}
	kid, id, exp, sig := parts[0], parts[1], parts[2], parts[3]
	secret, ok := k.verify[kid]
	if !ok {
		return Claims{}, ErrUnknownKey
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, kid, id, exp))) {
		return Claims{}, ErrForged
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return Claims{}, ErrForged // signed, so ours: cannot happen
	}
	c := Claims{KeyID: kid, Callback: id, Expires: time.Unix(unix, 0).UTC()}
	if !now.Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

// mac signs the three fields with a separator none of them may hold, and a
// label, so that no other HMAC of the same key could pass for a link.
func mac(secret []byte, kid, id, exp string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("ringback-selflink-v1\x00" + kid + "\x00" + id + "\x00" + exp))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
