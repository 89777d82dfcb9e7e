package personal

import (
	"bufio"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// A sealed file (a call recording) is streamed in chunks, so that a file of
// hours is neither held in memory nor ever on disk in clear:
//
//	magic "RBPREC1\n" ‖ key id (16) ‖ nonce prefix (7)
//	then chunks: length (4, big endian) ‖ AES-GCM(chunk) with nonce
//	prefix ‖ last (1: 1 on the final chunk) ‖ counter (4)
//
// The counter and the last flag in the nonce make a truncated, reordered or
// spliced file fail to open (the STREAM construction of Hoang, Reyhanitabar,
// Rogaway and Vizár, as age and Tink use it).
const (
	streamMagic = "RBPREC1\n"
	chunkSize   = 64 << 10
	prefixLen   = 7
)

// ErrErased is returned when opening a sealed file whose key is destroyed.
var ErrErased = errors.New("erased: the contact's key is destroyed")

// SealWriter returns a writer that seals what is written to w under the key
// of the contact that correlation (a callback) was linked to. Close writes
// the final chunk; it does not close w.
func (s *Sealer) SealWriter(ctx context.Context, correlation string, w io.Writer) (io.WriteCloser, error) {
	id, err := s.linked(ctx, correlation)
	if err != nil {
		return nil, fmt.Errorf("seal stream (correlation %q): %w", correlation, err)
	}
	a, err := s.aead(ctx, id, true)
	if err != nil {
		return nil, err
	}
	sw := &streamWriter{w: w, a: a, buf: make([]byte, 0, chunkSize)}
	hdr := make([]byte, 0, len(streamMagic)+keyIDLen+prefixLen)
	hdr = append(hdr, streamMagic...)
	hdr, _ = hex.AppendDecode(hdr, []byte(id))
	sw.prefix = make([]byte, prefixLen)
	rand.Read(sw.prefix)
	sw.aad = hdr[len(streamMagic) : len(streamMagic)+keyIDLen]
	if _, err := w.Write(append(hdr, sw.prefix...)); err != nil {
		return nil, fmt.Errorf("seal stream: %w", err)
	}
	return sw, nil
}

type streamWriter struct {
	w      io.Writer
	a      cipher.AEAD
	prefix []byte
	aad    []byte
	buf    []byte
	n      uint32
	closed bool
}

func (sw *streamWriter) nonce(last bool) []byte {
	nonce := make([]byte, 0, 12)
	nonce = append(nonce, sw.prefix...)
	if last {
		nonce = append(nonce, 1)
	} else {
		nonce = append(nonce, 0)
	}
	return binary.BigEndian.AppendUint32(nonce, sw.n)
}

func (sw *streamWriter) writeChunk(last bool) error {
	if sw.n == ^uint32(0) {
		return errors.New("seal stream: too long")
	}
	ct := sw.a.Seal(nil, sw.nonce(last), sw.buf, sw.aad)
	sw.n++
	sw.buf = sw.buf[:0]
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(ct)))
	if _, err := sw.w.Write(l[:]); err != nil {
		return err
	}
	_, err := sw.w.Write(ct)
	return err
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	if sw.closed {
		return 0, errors.New("seal stream: closed")
	}
	n := 0
	for len(p) > 0 {
		k := min(chunkSize-len(sw.buf), len(p))
		sw.buf = append(sw.buf, p[:k]...)
		p, n = p[k:], n+k
		// A full chunk is written only once more data comes, so that the
		// final chunk, marked last, is never empty unless the stream is.
		if len(sw.buf) == chunkSize && len(p) > 0 {
			if err := sw.writeChunk(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (sw *streamWriter) Close() error {
	if sw.closed {
		return nil
	}
	sw.closed = true
	return sw.writeChunk(true)
}

// OpenReader returns the plaintext of a sealed file read from r, or
// ErrErased when its key is destroyed. A file tampered with, truncated or
// spliced fails to read.
func (s *Sealer) OpenReader(ctx context.Context, r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	hdr := make([]byte, len(streamMagic)+keyIDLen+prefixLen)
	if _, err := io.ReadFull(br, hdr); err != nil || string(hdr[:len(streamMagic)]) != streamMagic {
		return nil, fmt.Errorf("open stream: not a sealed file")
	}
	aad := hdr[len(streamMagic) : len(streamMagic)+keyIDLen]
	a, err := s.aead(ctx, hex.EncodeToString(aad), false)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, ErrErased
	}
	sw := &streamWriter{a: a, prefix: hdr[len(streamMagic)+keyIDLen:], aad: aad}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(func() error {
			for {
				var l [4]byte
				if _, err := io.ReadFull(br, l[:]); err != nil {
					return fmt.Errorf("open stream: truncated: %w", err)
				}
				ct := make([]byte, binary.BigEndian.Uint32(l[:]))
				if len(ct) > chunkSize+a.Overhead() {
					return errors.New("open stream: chunk too long")
				}
				if _, err := io.ReadFull(br, ct); err != nil {
					return fmt.Errorf("open stream: truncated: %w", err)
				}
				_, atEnd := br.Peek(1)
				last := atEnd != nil
				pt, err := a.Open(nil, sw.nonce(last), ct, aad)
				if err != nil {
					return errors.New("open stream: a chunk does not authenticate (tampered or truncated)")
				}
				sw.n++
				if _, err := pw.Write(pt); err != nil {
					return err
				}
				if last {
					return nil //nolint:nilerr // the end of the stream, which Peek reports as an error
				}
			}
		}())
	}()
	return pr, nil
}
