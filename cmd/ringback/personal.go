package main

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/selflink"
	"github.com/ringback/ringback/services/history"
	mediagateway "github.com/ringback/ringback/services/media-gateway"
)

// personalConfig says where the contacts' keys live (issue 16 point 9).
type personalConfig struct {
	SecretFile string
	Keys       string
}

// RegisterFlags registers the --personal.* flags.
func (c *personalConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SecretFile, "personal.secret-file", "", "file holding the secret (32 bytes or more, e.g. a mounted Kubernetes Secret) that wraps every contact's key and names keys; empty: one is drawn and kept in the key store itself, beside the keys, which still erases but leaves a copy of the store and its keys readable together")
	fs.StringVar(&c.Keys, "personal.keys", "", "where contacts' keys live: log:<path> (a directory one process owns: keys appended to a log, one sync for many), dir:<path> (a directory every replica shares, a file per key), postgres (a table of --eventstore's database), or off (personal data stored in clear, not erasable); empty: log:<data>/keys on the embedded store, postgres on PostgreSQL, off on KurrentDB (its deletes are not destruction) and on embedded stores joined by Kafka (each process's directory is its own)")
}

// Validate checks --personal.keys.
func (c *personalConfig) Validate(storeKind string) error {
	switch k := c.Keys; {
	case k == "", k == "off", strings.HasPrefix(k, "dir:") && len(k) > 4, strings.HasPrefix(k, "log:") && len(k) > 4:
	case k == "postgres":
		if storeKind != "postgres" {
			return &usageError{"--personal.keys=postgres needs --eventstore=postgres://..."}
		}
	default:
		return &usageError{fmt.Sprintf("--personal.keys: %q is none of log:<path>, dir:<path>, postgres, off", k)}
	}
	return nil
}

// keysFor resolves the empty --personal.keys for the store and bus.
func (c *personalConfig) keysFor(storeKind, bus, data string) string {
	if c.Keys != "" {
		return c.Keys
	}
	switch {
	case storeKind == "embedded" && bus == "kafka":
		// The one-machine trial: each process has its own data directory,
		// so keys there would be each process's own and every other
		// process would read the events as erased. A shared dir: works.
		return "off"
	case storeKind == "embedded":
		// One process owns the data directory (the store's lock), so its
		// keys can be a log it alone appends to: a sync for many new
		// callbacks, where a file each cost two syncs per callback
		// (issue 12). Keys kept as files there before are still read.
		return "log:" + filepath.Join(data, "keys")
	case storeKind == "postgres":
		return "postgres"
	}
	return "off"
}

// openPersonal wraps a.Store so that personal fields are sealed under the
// contacts' keys; the relay keeps reading the inner store (a.raw), so the
// bus carries ciphertext, and subscribers open it (openBus).
func (a *App) openPersonal(ctx context.Context) error {
	keys := a.Config.Personal.keysFor(a.Config.storeKind(), a.Config.Bus, a.Config.Data)
	if keys == "off" {
		a.Log.Warn("personal data is stored in clear and cannot be erased: set --personal.keys", "store", a.Config.storeKind())
		if f := a.Config.Personal.SecretFile; f != "" {
			secret, err := personal.LoadSecret(f)
			if err != nil {
				return err
			}
			return a.deriveFromSecret(secret)
		}
		a.Log.Warn("callback ids derive from the Idempotency-Key alone, so whoever knows a key can compute them: set --personal.secret-file")
		return nil
	}
	s, blobs, closeKeys, err := openSealer(ctx, keys, a.Config.Personal.SecretFile, a.Config.EventStore, a.Log, a.deriveFromSecret)
	if err != nil {
		return err
	}
	if l, ok := blobs.(*personal.KeyLog); ok {
		if st, ok := a.Store.(*embedded.Store); ok {
			// The store's writer syncs the key log before each batch, so a
			// new contact's callback waits for one round of syncs, not the
			// key's and then the event's (issue 12).
			l.DeferSync()
			st.SyncFirst(l.Sync)
		}
	}
	a.closers = append(a.closers, closeKeys)
	a.Sealer = s
	a.raw = a.Store
	a.Store = personal.NewStore(a.Store, s)
	return nil
}

// openSealer opens the key store keys names (log:<path>, dir:<path> or postgres, on
// the database of eventstoreURL) with the secret of secretFile, or the one
// kept in the key store when it is empty.
func openSealer(ctx context.Context, keys, secretFile, eventstoreURL string, log *slog.Logger, onSecret func(secret []byte) error) (*personal.Sealer, personal.Blobs, func() error, error) {
	var (
		blobs personal.Blobs
		close = func() error { return nil }
	)
	if dir, ok := strings.CutPrefix(keys, "log:"); ok {
		l, err := personal.OpenKeyLog(dir)
		if err != nil {
			return nil, nil, nil, err
		}
		blobs, close = l, l.Close
	} else if dir, ok := strings.CutPrefix(keys, "dir:"); ok {
		d, err := personal.OpenDir(dir)
		if err != nil {
			return nil, nil, nil, err
		}
		blobs = d
	} else {
		p, err := personal.OpenPostgres(ctx, eventstoreURL)
		if err != nil {
			return nil, nil, nil, err
		}
		blobs, close = p, p.Close
	}
	s, err := func() (*personal.Sealer, error) {
		secret, err := personalSecret(ctx, blobs, secretFile, log)
		if err != nil {
			return nil, err
		}
		master, ids, err := personal.DeriveSecrets(secret)
		if err != nil {
			return nil, err
		}
		if onSecret != nil {
			if err := onSecret(secret); err != nil {
				return nil, err
			}
		}
		ks, err := personal.NewWrapped(blobs, master)
		if err != nil {
			return nil, err
		}
		return personal.NewSealer(ks, ids)
	}()
	if err != nil {
		_ = close() // the open's error is the news
		return nil, nil, nil, err
	}
	return s, blobs, close, nil
}

// personalSecret reads secretFile, or draws a secret once into the key
// store, shared by every replica that uses it.
func personalSecret(ctx context.Context, blobs personal.Blobs, secretFile string, log *slog.Logger) ([]byte, error) {
	if secretFile != "" {
		return personal.LoadSecret(secretFile)
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	s, err := blobs.PutIfAbsent(ctx, "master", "secret", fresh)
	if err != nil {
		return nil, fmt.Errorf("personal secret: %w", err)
	}
	log.Warn("the secret that wraps contacts' keys is kept beside them: set --personal.secret-file from a Secret")
	return s, nil
}

// relayStore is the store the relay reads: without sealing undone, so what
// it publishes stays sealed.
func (a *App) relayStore() eventstore.Store {
	if a.raw != nil {
		return a.raw
	}
	return a.Store
}

// recordingSealer seals the gateway's recordings, or is nil when nothing
// is sealed.
func (a *App) recordingSealer() mediagateway.RecordingSealer {
	if a.Sealer == nil {
		return nil
	}
	return a.Sealer
}

// eraser is history's Eraser, or nil when nothing is sealed.
func (a *App) eraser() history.Eraser {
	if a.Sealer == nil {
		return nil
	}
	return a.Sealer
}

// deriveFromSecret derives from the operator's secret the keys intake
// needs: the callback ids' and the self-service links'.
func (a *App) deriveFromSecret(secret []byte) error {
	var err error
	if a.callbackIDKey, err = callbackIDKey(secret); err != nil {
		return err
	}
	k, err := selflink.Derive(secret)
	if err != nil {
		return err
	}
	a.linkKey = &k
	return nil
}

// callbackIDKey is the key of the callback ids, derived from the operator's
// secret apart from the keys that seal personal data: every replica
// derives the same ids from the same Idempotency-Key, and nobody without
// the secret can.
func callbackIDKey(secret []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, "ringback callback ids v1", 32)
	if err != nil {
		return nil, fmt.Errorf("callback id key: %w", err)
	}
	return k, nil
}
