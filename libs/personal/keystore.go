package personal

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyStore keeps one data key per contact, under the operator's control.
// Adapters: a directory (a shared volume; single node's data directory) and
// a PostgreSQL table beside the event store, both wrapping each key with a
// master key from a Secret (Wrapped). A KMS would implement it directly.
//
// All methods are safe for concurrent use, from any number of replicas
// sharing the store: of replicas creating one key at once, all get the one
// that won, and a destroyed key is gone for every replica.
type KeyStore interface {
	// Key returns the data key named id (32 bytes). With create, a key is
	// made when there is none. Without, ErrNoKey when there is none:
	// never made, or destroyed.
	Key(ctx context.Context, id string, create bool) ([]byte, error)
	// Destroy removes key id for good. An unknown id is not an error.
	Destroy(ctx context.Context, id string) error
	// Link records that the events of correlation (a callback) belong to
	// the contact whose key is id. The first link of a correlation stays.
	Link(ctx context.Context, correlation, id string) error
	// Linked returns the key id correlation was linked to, or ErrNoKey.
	Linked(ctx context.Context, correlation string) (string, error)
}

// ErrNoKey is returned for a key or link that does not exist.
var ErrNoKey = errors.New("no such key")

// Blobs is the storage under Wrapped: named values in two namespaces
// ("keys", "links", "master"), put once, read, deleted. Safe for concurrent use.
type Blobs interface {
	// Get returns the value, or ErrNoKey.
	Get(ctx context.Context, ns, name string) ([]byte, error)
	// PutIfAbsent stores v unless name has a value, and returns the value
	// stored: v, or the one that was there.
	PutIfAbsent(ctx context.Context, ns, name string, v []byte) ([]byte, error)
	// Delete removes name; an unknown name is not an error.
	Delete(ctx context.Context, ns, name string) error
}

// Wrapped is a KeyStore over blobs that stores each data key sealed with a
// master key (AES-256-GCM, the key id as associated data, so a wrapped key
// cannot be moved to another contact). A copy of the blobs is useless
// without the master key, which lives elsewhere (a Kubernetes Secret).
type Wrapped struct {
	blobs  Blobs
	master cipher.AEAD // made once: a cipher per key wrapped was its own allocation churn
}

// NewWrapped returns a KeyStore over blobs wrapping keys with master
// (32 bytes, see DeriveSecrets).
func NewWrapped(blobs Blobs, master []byte) (*Wrapped, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("personal: master key of %d bytes, want 32", len(master))
	}
	a, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	return &Wrapped{blobs: blobs, master: a}, nil
}

// Key implements KeyStore.
func (w *Wrapped) Key(ctx context.Context, id string, create bool) ([]byte, error) {
	b, err := w.blobs.Get(ctx, "keys", id)
	if errors.Is(err, ErrNoKey) && create {
		k := make([]byte, 32)
		rand.Read(k)
		var wrapped []byte
		if wrapped, err = w.wrap(id, k); err != nil {
			return nil, err
		}
		b, err = w.blobs.PutIfAbsent(ctx, "keys", id, wrapped)
	}
	if err != nil {
		return nil, err
	}
	return w.unwrap(id, b)
}

// Destroy implements KeyStore.
func (w *Wrapped) Destroy(ctx context.Context, id string) error {
	return w.blobs.Delete(ctx, "keys", id)
}

// Link implements KeyStore.
func (w *Wrapped) Link(ctx context.Context, correlation, id string) error {
	_, err := w.blobs.PutIfAbsent(ctx, "links", correlation, []byte(id))
	return err
}

// Linked implements KeyStore.
func (w *Wrapped) Linked(ctx context.Context, correlation string) (string, error) {
	b, err := w.blobs.Get(ctx, "links", correlation)
	return string(b), err
}

func (w *Wrapped) wrap(id string, k []byte) ([]byte, error) {
	a := w.master
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, k, []byte(id)), nil
}

func (w *Wrapped) unwrap(id string, b []byte) ([]byte, error) {
	a := w.master
	if len(b) < a.NonceSize() {
		return nil, fmt.Errorf("wrapped key %s: too short", id)
	}
	k, err := a.Open(nil, b[:a.NonceSize()], b[a.NonceSize():], []byte(id))
	if err != nil {
		// Not an erasure: the master key is not the one the key was
		// wrapped with. Say so rather than read everything as erased.
		return nil, fmt.Errorf("unwrap key %s (wrong master key?): %w", id, err)
	}
	return k, nil
}

// DeriveSecrets turns the operator's secret (at least 32 bytes, from a file
// or Secret) into the master key that wraps data keys and the secret that
// names them, so that one secret to keep gives both, independent.
func DeriveSecrets(secret []byte) (master, ids []byte, err error) {
	if len(secret) < 32 {
		return nil, nil, fmt.Errorf("personal: secret of %d bytes, want at least 32", len(secret))
	}
	if master, err = hkdf.Key(sha256.New, secret, nil, "ringback personal master key v1", 32); err != nil {
		return nil, nil, err
	}
	if ids, err = hkdf.Key(sha256.New, secret, nil, "ringback personal key ids v1", 32); err != nil {
		return nil, nil, err
	}
	return master, ids, nil
}

// LoadSecret reads the operator's secret from path (a mounted Secret): at
// least 32 bytes, used as they are (trailing space included, so that the
// file is what counts, not how it was written).
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if len(strings.TrimSpace(string(b))) < 32 {
		return nil, fmt.Errorf("secret %s: %d bytes, want at least 32", path, len(b))
	}
	return b, nil
}
