package embedded

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"

	"github.com/google/uuid"
)

// The log file, all integers little-endian:
//
//	file    = magic frame*
//	magic   = "RBEVLOG1"
//	frame   = length:u32 crc:u32 hcrc:u32 payload[length]
//	payload = record+             one group commit: one write, one sync
//	record  = firstSeq:uvarint firstRev:uvarint time:varint stream:str
//	          count:uvarint event*  one Append
//	event   = id:[16]byte type:str data:str nmeta:uvarint (key:str value:str)*
//	str     = length:uvarint bytes
//
// crc is the CRC-32C of the payload; hcrc is the CRC-32C of the first eight
// header bytes, so a damaged length is recognised instead of being trusted
// (a trusted bad length would make mid-file damage look like a torn tail).
// A frame is the unit of a write: a crash can tear only the last frame, and
// because no Append in it was acknowledged, dropping it loses nothing promised.
const (
	magic       = "RBEVLOG1"
	frameHeader = 12
	logName     = "events.log"
)

// ErrCorrupt reports damage that is not a torn tail: a bad frame followed by
// more data, or a frame whose checksum holds but whose content does not. The
// store refuses to open rather than silently dropping acknowledged events.
var ErrCorrupt = errors.New("event log corrupt")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// event is one event as the log stores it.
type event struct {
	id   uuid.UUID
	sid  string // id as text, made once for every subscription that reads it (full decode)
	typ  string
	data []byte
	meta map[string]string
}

// record is one Append as the log stores it.
type record struct {
	firstSeq uint64 // global sequence number of the first event, 1-based
	firstRev uint64 // stream revision of the first event
	time     int64  // Unix nanoseconds when the store accepted the append
	stream   string
	events   []event
}

// appendRecord encodes r at the end of b.
func appendRecord(b []byte, r *record) []byte {
	b = binary.AppendUvarint(b, r.firstSeq)
	b = binary.AppendUvarint(b, r.firstRev)
	b = binary.AppendVarint(b, r.time)
	b = appendString(b, r.stream)
	b = binary.AppendUvarint(b, uint64(len(r.events)))
	for i := range r.events {
		e := &r.events[i]
		b = append(b, e.id[:]...)
		b = appendString(b, e.typ)
		b = binary.AppendUvarint(b, uint64(len(e.data)))
		b = append(b, e.data...)
		keys := make([]string, 0, len(e.meta))
		for k := range e.meta {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic bytes for equal events
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = appendString(b, k)
			b = appendString(b, e.meta[k])
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodedSize is an upper bound of the encoded size of an append, used to
// refuse oversized appends before they reach the writer.
func encodedSize(stream string, events []event) int {
	n := 4*binary.MaxVarintLen64 + len(stream)
	for i := range events {
		e := &events[i]
		n += 16 + 3*binary.MaxVarintLen64 + len(e.typ) + len(e.data)
		for k, v := range e.meta {
			n += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
	}
	return n
}

// decoder reads the encoding of appendRecord; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated or malformed record")
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next length-prefixed bytes, aliasing the input.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// decodeRecord decodes one record from the start of b and returns it with the
// number of bytes it used. Without full, only what the index needs is kept
// (stream, ids, counts): rebuilding the index on open must not copy every
// payload into memory.
func decodeRecord(b []byte, full bool) (record, int, error) {
	d := decoder{b: b}
	r := record{
		firstSeq: d.uvarint(),
		firstRev: d.uvarint(),
		time:     d.varint(),
		stream:   string(d.raw()),
	}
	count := d.uvarint()
	if d.err == nil && (count == 0 || count > uint64(len(d.b))) {
		d.fail() // every event takes at least 16 bytes: a bad count cannot allocate much
	}
	if d.err != nil {
		return record{}, 0, d.err
	}
	r.events = make([]event, count)
	for i := range r.events {
		e := &r.events[i]
		if len(d.b) < 16 {
			d.fail()
			break
		}
		e.id = uuid.UUID(d.b[:16])
		d.b = d.b[16:]
		typ, data := d.raw(), d.raw()
		nmeta := d.uvarint()
		if nmeta > uint64(len(d.b)) {
			d.fail()
			break
		}
		if full {
			e.sid = e.id.String()
			e.typ, e.data = string(typ), append([]byte{}, data...)
			if nmeta > 0 {
				e.meta = make(map[string]string, nmeta)
			}
		}
		for range nmeta {
			k, v := d.raw(), d.raw()
			if full {
				e.meta[string(k)] = string(v)
			}
		}
	}
	if d.err != nil {
		return record{}, 0, d.err
	}
	return r, len(b) - len(d.b), nil
}

// encodeFrameHeader fills the header reserved at the start of frame.
func encodeFrameHeader(frame []byte) {
	payload := frame[frameHeader:]
	binary.LittleEndian.PutUint32(frame[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(frame[8:], crc32.Checksum(frame[:8], castagnoli))
}

// scanLog reads every intact frame of f after the magic, calling visit with
// the frame's offset and payload (valid only during the call). It returns the
// end of the last intact frame: anything after it is a torn tail the caller
// truncates. Damage that cannot be a torn tail is ErrCorrupt.
func scanLog(f *os.File, size int64, visit func(off int64, payload []byte) error) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, len64(magic), size-len64(magic)), 1<<20)
	var hdr [frameHeader]byte
	var payload []byte
	off := len64(magic)
	for off < size {
		rest := size - off
		if rest < frameHeader {
			return off, nil // the header itself was cut short
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, fmt.Errorf("read frame at %d: %w", off, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if crc32.Checksum(hdr[:8], castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
			// Filesystems expose unwritten blocks of a torn append as zeros;
			// anything else under a bad header is damage.
			zero, err := allZero(hdr[:], r)
			if err != nil {
				return 0, fmt.Errorf("read frame at %d: %w", off, err)
			}
			if zero {
				return off, nil
			}
			return 0, fmt.Errorf("frame header at %d: %w", off, ErrCorrupt)
		}
		if n > rest-frameHeader {
			return off, nil // the write stopped inside this frame
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, fmt.Errorf("read frame at %d: %w", off, err)
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			// The last write, only partly on disk, possibly followed by
			// blocks the filesystem allocated but never wrote.
			zero, err := allZero(nil, r)
			if err != nil {
				return 0, fmt.Errorf("read frame at %d: %w", off, err)
			}
			if zero {
				return off, nil
			}
			return 0, fmt.Errorf("frame at %d: checksum mismatch with %d bytes after it: %w",
				off, size-off-frameHeader-n, ErrCorrupt)
		}
		if err := visit(off, payload); err != nil {
			return 0, err
		}
		off += frameHeader + n
	}
	return off, nil
}

// allZero reports whether head and everything left in r are zero bytes.
func allZero(head []byte, r io.Reader) (bool, error) {
	for _, c := range head {
		if c != 0 {
			return false, nil
		}
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func len64(s string) int64 { return int64(len(s)) }
