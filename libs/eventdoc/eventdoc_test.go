package eventdoc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The committed catalogue is what the schemas and the envelope say today.
func TestCatalogueIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	want, err := Generate(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "docs", "events.md"))
	if err != nil {
		t.Fatalf("%v (make events writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/events.md is not current: run make events and commit it")
	}
}
