package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ringback/ringback/libs/eventstore"
)

// FileCheckpoints keeps the checkpoint in a small JSON file, replaced
// atomically (write to a temporary file, fsync, rename).
type FileCheckpoints struct{ Path string }

func (f FileCheckpoints) Load() (eventstore.Position, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return eventstore.Position{}, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("read checkpoint: %w", err)
	}
	var p eventstore.Position
	if err := json.Unmarshal(b, &p); err != nil {
		// A torn checkpoint costs a full replay, which consumers absorb;
		// refusing to start would cost an outage.
		return eventstore.Position{}, nil
	}
	return p, nil
}

func (f FileCheckpoints) Save(p eventstore.Position) error {
	b, _ := json.Marshal(p)
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".checkpoint-*")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}
