package personal

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
)

// Deferred, a put is readable as soon as it returns, counted as written
// and not synced, and durable after Sync, and after Close without one.
func TestADeferredPutIsSyncedBySyncOrClose(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenKeyLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.DeferSync()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := l.PutIfAbsent(ctx, "keys", fmt.Sprint("k", i), []byte{byte(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if l.written == 0 || l.synced == l.written {
		t.Fatalf("after puts: written %d, synced %d; want written ahead", l.written, l.synced)
	}
	if v, err := l.Get(ctx, "keys", "k7"); err != nil || !bytes.Equal(v, []byte{7}) {
		t.Fatalf("a deferred put read back as %v, %v", v, err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if l.synced != l.written {
		t.Fatalf("after Sync: written %d, synced %d", l.written, l.synced)
	}
	if _, err := l.PutIfAbsent(ctx, "keys", "last", []byte{99}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // syncs "last"
		t.Fatal(err)
	}
	again := openLog(t, dir)
	for i, name := range []string{"k0", "k39", "last"} {
		want := []byte{[]byte{0, 39, 99}[i]}
		if v, err := again.Get(ctx, "keys", name); err != nil || !bytes.Equal(v, want) {
			t.Errorf("after reopening, %s = %v, %v; want %v", name, v, err, want)
		}
	}
}

// A sync that fails leaves the log refusing puts: the file and the disk may
// disagree, and a later sync could report success for what the disk lost.
func TestAFailedSyncRefusesLaterPuts(t *testing.T) {
	l, err := OpenKeyLog(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l.DeferSync()
	ctx := context.Background()
	if _, err := l.PutIfAbsent(ctx, "keys", "a", []byte{1}); err != nil {
		t.Fatal(err)
	}
	f := l.f
	f.Close() // the sync's file is gone from under it
	if err := l.Sync(); err == nil {
		t.Fatal("Sync on a closed file said nil")
	}
	if _, err := l.PutIfAbsent(ctx, "keys", "b", []byte{2}); err == nil {
		t.Fatal("a put after a failed sync was taken")
	}
	if err := l.Sync(); err == nil {
		t.Fatal("a second Sync after a failed one said nil")
	}
	l.closeLock()
}
