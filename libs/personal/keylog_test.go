package personal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func openLog(t *testing.T, dir string) *KeyLog {
	t.Helper()
	l, err := OpenKeyLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestKeyLogBlobs(t *testing.T) {
	testBlobs(t, openLog(t, t.TempDir()))
}

// Many creators at once, of the same keys and of their own, through the
// key store: each key id gets one key, the one every caller got, and it is
// still that key after the log is opened again.
func TestKeyLogConcurrentCreators(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	ks, err := NewWrapped(l, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ids, callers = 20, 8
	got := make([][][]byte, ids)
	var wg sync.WaitGroup
	for i := range ids {
		got[i] = make([][]byte, callers)
		for c := range callers {
			wg.Go(func() {
				k, err := ks.Key(ctx, fmt.Sprint("id", i), true)
				if err != nil {
					t.Error(err)
				}
				got[i][c] = k
			})
		}
	}
	wg.Wait()
	l.Close()
	l2 := openLog(t, dir)
	ks2, _ := NewWrapped(l2, bytes.Repeat([]byte{7}, 32))
	for i := range ids {
		again, err := ks2.Key(ctx, fmt.Sprint("id", i), false)
		if err != nil {
			t.Fatalf("id%d after reopen: %v", i, err)
		}
		for c := range callers {
			if !bytes.Equal(got[i][c], again) {
				t.Fatalf("id%d: caller %d got %x, the log keeps %x", i, c, got[i][c], again)
			}
		}
	}
}

// A destroyed key is gone from the file, not only from the index, and
// stays gone when the log is opened again; its neighbours stay.
func TestKeyLogDestroyedKeyGoneAfterReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openLog(t, dir)
	secret := bytes.Repeat([]byte("SECRET-KEY-BYTES"), 2)
	for _, n := range []string{"a", "b", "c"} {
		v := secret
		if n != "b" {
			v = []byte("value of " + n)
		}
		if _, err := l.PutIfAbsent(ctx, "keys", n, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Delete(ctx, "keys", "b"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, secret) || !bytes.Contains(raw, []byte("value of c")) {
		t.Fatalf("the log after delete: %q", raw)
	}
	l = openLog(t, dir)
	if _, err := l.Get(ctx, "keys", "b"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("deleted key after reopen: %v", err)
	}
	for _, n := range []string{"a", "c"} {
		if v, err := l.Get(ctx, "keys", n); err != nil || string(v) != "value of "+n {
			t.Fatalf("%s after reopen: %q, %v", n, v, err)
		}
	}
}

// A crash during a batch leaves a record cut short at the end: open drops
// it, keeps every acknowledged record, and later puts follow the last
// whole record.
func TestKeyLogTornTailRecovered(t *testing.T) {
	for name, tail := range map[string]func(whole []byte) []byte{
		"half a record":   func(w []byte) []byte { return w[:len(w)/2] },
		"a header only":   func(w []byte) []byte { return w[:logHeader] },
		"garbage length":  func([]byte) []byte { return []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5} },
		"zeroed blocks":   func([]byte) []byte { return make([]byte, 4096) },
		"bad CRC at end":  func(w []byte) []byte { c := bytes.Clone(w); c[len(c)-1] ^= 1; return c },
		"three bytes":     func(w []byte) []byte { return w[:3] },
		"random garbage?": func([]byte) []byte { b := make([]byte, 300); rand.Read(b); b[3] = 0; return b },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			l := openLog(t, dir)
			for i := range 5 {
				if _, err := l.PutIfAbsent(ctx, "keys", fmt.Sprint(i), []byte(fmt.Sprint("v", i))); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			path := filepath.Join(dir, "log")
			acked, _ := os.ReadFile(path)
			// The bytes one more record would have had.
			other := t.TempDir()
			ol := openLog(t, other)
			if _, err := ol.PutIfAbsent(ctx, "keys", "lost", []byte("never acknowledged")); err != nil {
				t.Fatal(err)
			}
			whole, _ := os.ReadFile(filepath.Join(other, "log"))
			if err := os.WriteFile(path, append(bytes.Clone(acked), tail(whole)...), 0o600); err != nil {
				t.Fatal(err)
			}

			l = openLog(t, dir)
			if fi, _ := os.Stat(path); fi.Size() != int64(len(acked)) {
				t.Fatalf("log of %d bytes after open, want %d", fi.Size(), len(acked))
			}
			if _, err := l.PutIfAbsent(ctx, "keys", "after", []byte("after the crash")); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l = openLog(t, dir)
			for i := range 5 {
				if v, err := l.Get(ctx, "keys", fmt.Sprint(i)); err != nil || string(v) != fmt.Sprint("v", i) {
					t.Fatalf("acknowledged %d: %q, %v", i, v, err)
				}
			}
			if v, err := l.Get(ctx, "keys", "after"); err != nil || string(v) != "after the crash" {
				t.Fatalf("put after recovery: %q, %v", v, err)
			}
		})
	}
}

// A crash while a record is overwritten (Delete) leaves it half zeroed:
// open reads it as deleted and finishes the overwrite; the records after
// it stay.
func TestKeyLogTornDeleteFinished(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openLog(t, dir)
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, n := range []string{"a", "b", "c"} {
		v := []byte("value of " + n)
		if n == "b" {
			v = secret
		}
		if _, err := l.PutIfAbsent(ctx, "keys", n, v); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	path := filepath.Join(dir, "log")
	raw, _ := os.ReadFile(path)
	at := bytes.Index(raw, secret)
	copy(raw[at:], make([]byte, 10)) // the first bytes zeroed, the rest not yet
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir)
	if _, err := l.Get(ctx, "keys", "b"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("half-deleted key: %v", err)
	}
	if v, err := l.Get(ctx, "keys", "c"); err != nil || string(v) != "value of c" {
		t.Fatalf("the record after it: %q, %v", v, err)
	}
	raw, _ = os.ReadFile(path)
	if bytes.Contains(raw, secret[10:]) {
		t.Fatalf("what was left of the key is still in the log")
	}
}

// A second process (here a second open) reads the log while the first
// holds it: it sees what is put and deleted there, and cannot write.
func TestKeyLogSecondOpenReadsOnly(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w := openLog(t, dir)
	if _, err := w.PutIfAbsent(ctx, "master", "secret", []byte("the secret")); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, dir)
	if v, err := r.PutIfAbsent(ctx, "master", "secret", []byte("another")); err != nil || string(v) != "the secret" {
		t.Fatalf("read-only put of a present name: %q, %v", v, err)
	}
	if _, err := r.PutIfAbsent(ctx, "keys", "k", []byte("v")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only put: %v", err)
	}
	if _, err := w.PutIfAbsent(ctx, "keys", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx, "keys", "k"); err != nil || string(v) != "v" {
		t.Fatalf("read-only Get of a later put: %q, %v", v, err)
	}
	if err := w.Delete(ctx, "keys", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "keys", "k"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("read-only Get of a deleted key: %v", err)
	}
	if err := r.Delete(ctx, "keys", "k"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only delete: %v", err)
	}
}

// Keys kept as files by the directory adapter are read, kept and
// destroyed through the log opened over the same directory.
func TestKeyLogReadsDirFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.PutIfAbsent(ctx, "keys", "old", []byte("old key")); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir)
	if v, err := l.PutIfAbsent(ctx, "keys", "old", []byte("new key")); err != nil || string(v) != "old key" {
		t.Fatalf("put over a file's key: %q, %v", v, err)
	}
	if err := l.Delete(ctx, "keys", "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "keys", "old"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("the file after delete: %v", err)
	}
	if _, err := l.Get(ctx, "keys", "old"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Get after delete: %v", err)
	}
}

// A key destroyed and made again is the new one for a process that read
// the log before, and after a crash that left both records whole.
func TestKeyLogKeyMadeAgain(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w := openLog(t, dir)
	if _, err := w.PutIfAbsent(ctx, "keys", "k", []byte("first key")); err != nil {
		t.Fatal(err)
	}
	r := openLog(t, dir)
	if v, err := r.Get(ctx, "keys", "k"); err != nil || string(v) != "first key" {
		t.Fatalf("read-only: %q, %v", v, err)
	}
	if err := w.Delete(ctx, "keys", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.PutIfAbsent(ctx, "keys", "k", []byte("second key")); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx, "keys", "k"); err != nil || string(v) != "second key" {
		t.Fatalf("read-only after the key was made again: %q, %v", v, err)
	}
	r.Close()
	w.Close()

	// Both records whole: the delete's overwrite never reached the disk.
	d2 := t.TempDir()
	a := openLog(t, d2)
	if _, err := a.PutIfAbsent(ctx, "keys", "k", []byte("old key, deleted")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	first, _ := os.ReadFile(filepath.Join(d2, "log"))
	b := openLog(t, t.TempDir())
	if _, err := b.PutIfAbsent(ctx, "keys", "k", []byte("new key")); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(b.dir.root, "log"))
	b.Close()
	if err := os.WriteFile(filepath.Join(d2, "log"), append(first, second...), 0o600); err != nil {
		t.Fatal(err)
	}
	a = openLog(t, d2)
	if v, err := a.Get(ctx, "keys", "k"); err != nil || string(v) != "new key" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	a.Close()
	raw, _ := os.ReadFile(filepath.Join(d2, "log"))
	if bytes.Contains(raw, []byte("old key, deleted")) {
		t.Fatal("the shadowed key is still in the log")
	}
}
