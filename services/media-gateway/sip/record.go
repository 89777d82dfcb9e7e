package sip

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// A recording is a WAV file (RIFF, PCM 16-bit, 8 kHz) with two channels:
// left the agent, right the contact, each as the other party heard it (the
// agent's channel is silent while muted, both while on hold).
//
// The channels are laid out by the wall clock: every recordEvery the
// recorder writes the frames due up to recordLag ago, taking each channel's
// samples as they arrived and silence where none did. The file is therefore
// as long as the recording ran, whatever the network delivered, and the two
// directions stay aligned within recordLag.
const (
	recordEvery = 100 * time.Millisecond
	// recordLag absorbs network jitter before a frame is written.
	recordLag = 200 * time.Millisecond
	// recordBacklog bounds what one channel may have queued (a burst after
	// a stall): older samples are dropped, so the channels never drift apart
	// by more.
	recordBacklog = 2 * sampleRate // bytes of 16-bit PCM: one second

	wavChannels   = 2
	wavBits       = 16
	wavHeaderSize = 44
	wavFrameBytes = wavChannels * wavBits / 8
	// wavMaxData keeps the RIFF sizes within 32 bits (37 hours of stereo).
	wavMaxData = 1<<32 - 1 - wavHeaderSize
)

// recorder writes one recording. add is called by the bridge's goroutines,
// stop by whoever ends the recording; both are safe for concurrent use.
type recorder struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	sealed io.WriteCloser // nil: a plain WAV file
	start  time.Time

	mu      sync.Mutex
	pending [2][]byte // 16-bit PCM per channel, not yet written
	frames  int64     // stereo frames written
	closed  bool
	err     error // first write error: the recording stops there

	quit chan struct{}
	done chan struct{}
}

// Seal wraps a recording's file so that only ciphertext reaches the disk
// (issue 16: a recording is the contact's personal data, erased with their
// key); Close ends the sealed stream, not the file.
type Seal = telephony.Seal

// newRecorder creates the file (it must not exist: a recording is never
// overwritten) and starts writing, through seal when not nil.
func newRecorder(path string, seal Seal) (*recorder, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	r := &recorder{path: path, f: f, w: bufio.NewWriterSize(f, 32*1024), quit: make(chan struct{}), done: make(chan struct{})}
	header := wavHeader(0)
	if seal != nil {
		if r.sealed, err = seal(f); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		r.w.Reset(r.sealed)
		// A sealed stream cannot be rewritten in place: the header says
		// "as long as the data goes", as streamed WAV does.
		header = wavHeader(wavMaxData)
	}
	// The header is rewritten with the real sizes when the recording stops;
	// until then a reader sees an empty but valid file.
	if _, err := r.w.Write(header); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	r.start = time.Now()
	go r.run()
	return r, nil
}

func (r *recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(recordEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.quit:
			return
		case now := <-tick.C:
			r.mu.Lock()
			r.flushLocked(now.Add(-recordLag))
			r.mu.Unlock()
		}
	}
}

// add queues 16-bit PCM heard on channel ch.
func (r *recorder) add(ch int, pcm []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.err != nil {
		return
	}
	q := append(r.pending[ch], pcm...)
	if over := len(q) - recordBacklog; over > 0 {
		q = q[over+over%2:]
	}
	r.pending[ch] = q
}

// flushLocked writes the frames due by until: each channel's queued samples,
// silence where a channel has none.
func (r *recorder) flushLocked(until time.Time) {
	due := int64(until.Sub(r.start)) * sampleRate / int64(time.Second)
	if max := int64(wavMaxData / wavFrameBytes); due > max {
		due = max
	}
	var frame [wavFrameBytes]byte
	for ; r.frames < due && r.err == nil; r.frames++ {
		for ch := range r.pending {
			q := r.pending[ch]
			if len(q) >= 2 {
				frame[2*ch], frame[2*ch+1] = q[0], q[1]
				r.pending[ch] = q[2:]
			} else {
				frame[2*ch], frame[2*ch+1] = 0, 0
			}
		}
		_, r.err = r.w.Write(frame[:])
	}
}

// stop writes what is due up to now, completes the header, closes the file
// and returns the recorded duration. It is called once.
func (r *recorder) stop() (time.Duration, error) {
	close(r.quit)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked(time.Now())
	r.closed = true
	r.pending = [2][]byte{}
	dur := time.Duration(r.frames) * time.Second / sampleRate
	err := r.err
	if ferr := r.w.Flush(); err == nil {
		err = ferr
	}
	switch {
	case err == nil && r.sealed != nil:
		err = r.sealed.Close()
	case err == nil:
		_, err = r.f.WriteAt(wavHeader(uint32(r.frames*wavFrameBytes)), 0)
	}
	if err == nil {
		err = r.f.Sync() // a recording may be evidence: make it durable
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return dur, fmt.Errorf("recording %s: %w", r.path, err)
	}
	return dur, nil
}

// wavHeader is the canonical 44-byte RIFF/WAVE header for dataSize bytes of
// stereo 16-bit PCM at 8 kHz.
func wavHeader(dataSize uint32) []byte {
	h := make([]byte, 0, wavHeaderSize)
	le := binary.LittleEndian
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, 36+dataSize)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16) // fmt chunk size
	h = le.AppendUint16(h, 1)  // PCM
	h = le.AppendUint16(h, wavChannels)
	h = le.AppendUint32(h, sampleRate)
	h = le.AppendUint32(h, sampleRate*wavFrameBytes) // byte rate
	h = le.AppendUint16(h, wavFrameBytes)            // block align
	h = le.AppendUint16(h, wavBits)
	h = append(h, "data"...)
	h = le.AppendUint32(h, dataSize)
	return h
}

type recordResult struct {
	dur time.Duration
	err error
}

// StartRecording records both directions of the call into a new WAV file at
// path (see recorder: stereo, agent left, contact right). The file must not
// exist. Recording again to the same path while it records does nothing; to
// another path it is an error: one recording at a time.
func (c *Call) StartRecording(path string) error { return c.StartSealedRecording(path, nil) }

// StartSealedRecording is StartRecording writing through seal (nil: a
// plain WAV file).
func (c *Call) StartSealedRecording(path string, seal Seal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.claimed.Load() {
		return c.opError("record", ErrCallEnded)
	}
	if c.rec != nil {
		if c.rec.path == path {
			return nil
		}
		return fmt.Errorf("record %s: already recording to another file", c.id)
	}
	r, err := newRecorder(path, seal)
	if err != nil {
		return fmt.Errorf("record %s: %w", c.id, err)
	}
	c.rec = r
	c.media.rec.Store(r)
	c.log.Info("sip: recording started")
	return nil
}

// StopRecording completes and closes the recording's file and returns the
// recorded duration. Without a recording it returns 0 and no error. After
// the call ended, it returns the duration of the recording the hangup
// stopped, once; after that ErrCallEnded. While the call is ending it waits
// for the end: never call it from Dial's report function.
func (c *Call) StopRecording() (time.Duration, error) {
	c.mu.Lock()
	r := c.rec
	c.rec = nil
	if r == nil {
		ending := c.stopped || c.claimed.Load()
		c.mu.Unlock()
		if !ending {
			return 0, nil
		}
		<-c.ended // the teardown may be stopping a recording
		c.mu.Lock()
		defer c.mu.Unlock()
		if last := c.lastRec; last != nil {
			c.lastRec = nil
			return last.dur, last.err
		}
		return 0, c.opError("stop recording", ErrCallEnded)
	}
	c.media.rec.Store(nil)
	c.mu.Unlock()
	dur, err := r.stop()
	c.log.Info("sip: recording stopped", "duration", dur)
	if err != nil {
		return dur, fmt.Errorf("stop recording %s: %w", c.id, err)
	}
	return dur, nil
}

// Recording reports whether the call is being recorded.
func (c *Call) Recording() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec != nil
}
