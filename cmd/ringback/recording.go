package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ringback/ringback/libs/personal"
)

const recordingUsage = `usage: ringback recording [flags] <file.wav.sealed>

Writes the WAV of a sealed recording (the media gateway seals each with the
contact's key, issue 16) for a supervisor to play, when the contact's key
still exists; an erased contact's recording answers that it is erased.
Flags (also RINGBACK_<FLAG> in the environment, as for serve):
`

// recording opens a sealed recording with the key store serve uses.
func recording(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ringback recording", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, recordingUsage); fs.PrintDefaults() }
	var (
		cfg Config
		out string
	)
	fs.StringVar(&cfg.Data, "data", "data", "the data directory of serve, whose keys directory is the default key store")
	fs.StringVar(&cfg.EventStore, "eventstore", "", "as for serve: with postgres://, the key store is its database")
	cfg.Personal.RegisterFlags(fs)
	fs.StringVar(&out, "out", "", "where to write the WAV; empty: the file's name without .sealed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{err.Error()}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !given[f.Name] {
			_ = fs.Set(f.Name, v)
		}
	})
	if fs.NArg() != 1 {
		fs.Usage()
		return &usageError{"recording: name one sealed file"}
	}
	in := fs.Arg(0)
	if out == "" {
		out = strings.TrimSuffix(in, ".sealed")
		if out == in {
			return &usageError{"recording: --out is needed for a file not named .sealed"}
		}
	}
	if err := cfg.Personal.Validate(cfg.storeKind()); err != nil {
		return err
	}
	keys := cfg.Personal.keysFor(cfg.storeKind(), "inproc", cfg.Data)
	if keys == "off" {
		return &usageError{"recording: name the key store (--personal.keys)"}
	}
	s, _, closeKeys, err := openSealer(ctx, keys, cfg.Personal.SecretFile, cfg.EventStore, slog.New(slog.NewTextHandler(stderr, nil)), nil)
	if err != nil {
		return err
	}
	err = openRecording(ctx, s, in, out)
	return errors.Join(err, closeKeys())
}

// openRecording writes the plaintext of sealed file in to out (it must not
// exist), and the WAV's real sizes in its header: a sealed recording was
// streamed with "as long as the data goes".
func openRecording(ctx context.Context, s *personal.Sealer, in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := s.OpenReader(ctx, f)
	if err != nil {
		return fmt.Errorf("recording %s: %w", in, err)
	}
	w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, r)
	if err == nil && n >= 44 && n-8 <= 1<<32-1 {
		var le [4]byte
		binary.LittleEndian.PutUint32(le[:], uint32(n-8))
		_, err = w.WriteAt(le[:], 4) // RIFF chunk size
		if err == nil {
			binary.LittleEndian.PutUint32(le[:], uint32(n-44))
			_, err = w.WriteAt(le[:], 40) // data chunk size
		}
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out) // half a recording is no recording
		return fmt.Errorf("recording %s: %w", in, err)
	}
	return nil
}
