package personal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Dir keeps blobs as files under a directory: <dir>/<ns>/<name>. Replicas
// may share it (a ReadWriteMany volume): a put is a hard link of a fully
// written temporary file, which fails when the name exists, so the first
// writer wins and no reader sees half a file.
type Dir struct {
	root string
	// syncs coalesce the directory syncs of concurrent puts: one sync
	// started after a put's link makes it durable, whoever asked for it.
	syncs map[string]*dirSyncer
}

// OpenDir returns the blobs under root, made if missing (mode 0700: the
// wrapped keys are for this process's user only).
func OpenDir(root string) (*Dir, error) {
	for _, ns := range []string{"keys", "links", "master", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, ns), 0o700); err != nil {
			return nil, fmt.Errorf("key directory: %w", err)
		}
	}
	d := &Dir{root: root, syncs: map[string]*dirSyncer{}}
	for _, ns := range []string{"keys", "links", "master"} {
		d.syncs[ns] = &dirSyncer{dir: filepath.Join(root, ns)}
	}
	return d, nil
}

// path names a file by a hash of name, so that no name (a correlation from
// an event) can reach outside the directory.
func (d *Dir) path(ns, name string) string {
	h := sha256.Sum256([]byte(name))
	return filepath.Join(d.root, ns, hex.EncodeToString(h[:16]))
}

// Get implements Blobs.
func (d *Dir) Get(_ context.Context, ns, name string) ([]byte, error) {
	b, err := os.ReadFile(d.path(ns, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoKey
	}
	return b, err
}

// PutIfAbsent implements Blobs.
func (d *Dir) PutIfAbsent(ctx context.Context, ns, name string, v []byte) ([]byte, error) {
	err := d.put(ns, name, v)
	if errors.Is(err, os.ErrExist) {
		return d.Get(ctx, ns, name)
	}
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", ns, err)
	}
	return v, d.syncNS(ns)
}

// putTemp writes v to a new file under tmp, synced, and links it to its
// name: os.ErrExist if the name has a value. (put does the same without
// a name under tmp where the system allows it: dir_linux.go.)
func (d *Dir) putTemp(ns, name string, v []byte) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(d.root, "tmp", hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	_, err = f.Write(v)
	if err == nil {
		err = f.Sync() // the key must outlive a crash once data is sealed with it
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Link(tmp, d.path(ns, name))
}

func (d *Dir) syncNS(ns string) error {
	if g := d.syncs[ns]; g != nil {
		return g.sync()
	}
	return syncDir(filepath.Join(d.root, ns))
}

// dirSyncer is group commit for a directory's entries: a caller whose
// link is made joins the waiters; one of them syncs for every waiter at
// that moment, then again for those who came during that sync. Each
// waiter's sync starts after it joined, so after its link. With every new
// callback linking two files (its contact's key, its correlation), a sync
// each was most of the CPU of taking callbacks (issue 12).
type dirSyncer struct {
	dir     string
	mu      sync.Mutex
	running bool
	waiting []chan error
}

func (g *dirSyncer) sync() error {
	done := make(chan error, 1)
	g.mu.Lock()
	g.waiting = append(g.waiting, done)
	if g.running {
		g.mu.Unlock()
		return <-done
	}
	g.running = true
	for len(g.waiting) > 0 {
		batch := g.waiting
		g.waiting = nil
		g.mu.Unlock()
		err := syncDir(g.dir)
		for _, w := range batch {
			w <- err
		}
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
	return <-done
}

// Delete implements Blobs. The file is overwritten before it is removed, so
// that on a file system that writes in place the wrapped key is gone from
// the disk too (copy-on-write file systems and snapshots keep old blocks:
// the master key is what protects those).
func (d *Dir) Delete(_ context.Context, ns, name string) error {
	p := d.path(ns, name)
	if fi, err := os.Stat(p); err == nil {
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			_, _ = f.Write(make([]byte, fi.Size()))
			_ = f.Sync()
			_ = f.Close()
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", ns, err)
	}
	return d.syncNS(ns)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
