package personal

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
)

// testBlobs holds an adapter to the Blobs contract, replicas racing included.
func testBlobs(t *testing.T, b Blobs) {
	ctx := context.Background()
	if _, err := b.Get(ctx, "keys", "k1"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Get of nothing = %v, want ErrNoKey", err)
	}
	var wg sync.WaitGroup
	won := make([][]byte, 8)
	for i := range won {
		wg.Go(func() {
			v, err := b.PutIfAbsent(ctx, "keys", "k1", []byte{byte(i)})
			if err != nil {
				t.Error(err)
			}
			won[i] = v
		})
	}
	wg.Wait()
	for _, v := range won {
		if !bytes.Equal(v, won[0]) {
			t.Fatalf("racing puts got %v: not one winner", won)
		}
	}
	if got, err := b.Get(ctx, "keys", "k1"); err != nil || !bytes.Equal(got, won[0]) {
		t.Fatalf("Get = %v, %v; want %v", got, err, won[0])
	}
	if _, err := b.Get(ctx, "links", "k1"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("namespaces mixed: %v", err)
	}
	if err := b.Delete(ctx, "keys", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "keys", "k1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.Get(ctx, "keys", "k1"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Get after delete = %v, want ErrNoKey", err)
	}
}

func TestDirBlobs(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testBlobs(t, d)
	if _, err := d.PutIfAbsent(context.Background(), "links", "../../etc/passwd", []byte("x")); err != nil {
		t.Fatalf("a name with slashes: %v", err)
	}
}

func TestPostgresBlobs(t *testing.T) {
	url := pgtest.Database(t)
	p, err := OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testBlobs(t, p)
	// A second replica opening the same database shares the keys.
	q, err := OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := p.PutIfAbsent(context.Background(), "keys", "shared", []byte("k")); err != nil {
		t.Fatal(err)
	}
	if v, err := q.Get(context.Background(), "keys", "shared"); err != nil || string(v) != "k" {
		t.Fatalf("other replica reads %q, %v", v, err)
	}
}

func TestWrappedKeyNeedsItsMaster(t *testing.T) {
	ctx := context.Background()
	d, _ := OpenDir(t.TempDir())
	a, _ := NewWrapped(d, bytes.Repeat([]byte{1}, 32))
	k, err := a.Key(ctx, "id", true)
	if err != nil || len(k) != 32 {
		t.Fatalf("Key = %x, %v", k, err)
	}
	raw, _ := d.Get(ctx, "keys", "id")
	if bytes.Contains(raw, k) {
		t.Fatal("the data key is stored unwrapped")
	}
	b, _ := NewWrapped(d, bytes.Repeat([]byte{2}, 32))
	if _, err := b.Key(ctx, "id", false); err == nil || errors.Is(err, ErrNoKey) {
		t.Fatalf("another master unwrapped it or called it erased: %v", err)
	}
	if err := a.Destroy(ctx, "id"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Key(ctx, "id", false); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Key after Destroy = %v, want ErrNoKey", err)
	}
}

// TestDirConcurrentPuts: puts of many names at once, whose directory syncs
// are shared (dirSyncer), all land and read back.
func TestDirConcurrentPuts(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			name := string(rune('a'+i%26)) + string(rune('0'+i/26))
			if _, err := d.PutIfAbsent(ctx, "links", name, []byte(name)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 64 {
		name := string(rune('a'+i%26)) + string(rune('0'+i/26))
		if got, err := d.Get(ctx, "links", name); err != nil || string(got) != name {
			t.Fatalf("Get(%s) = %q, %v", name, got, err)
		}
	}
}
