// Package index is intake's search over its callbacks (GET /v1/callbacks,
// and the supervisor's search later): a compact in-memory index folded
// from the intake-callback-<id> streams, filtered by service, state,
// number, agent and a time range, paged newest first with an opaque
// cursor. Pure: the caller folds events in (Apply) from one goroutine
// and guards reads against it.
//
// What it keeps is what it filters and shows, in fixed-size fields (about
// 160 bytes a callback with its maps and order; see the benchmark): the callback's
// free text (subject, case data, name) stays in the store, where
// GET /v1/callbacks/{id} reads it. The state is the one callback.Evolve
// folds, so a list never disagrees with that GET.
package index

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/streams"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// StreamPrefix is the streams the index folds.
const StreamPrefix = streams.IntakeCallback

// entry is one callback: 64 bytes.
type entry struct {
	id        uuid.UUID
	phone     uint64 // E.164 digits after the +; 0: unknown or erased
	requested int64  // unix ms
	scheduled int64  // unix ms; 0: none
	updated   int64  // unix ms
	service   uint32 // names[service]
	agent     uint32 // names[agent]; 0: none
	state     callbackv1.CallbackState
	// samePhone is the slot of the previous callback for the same number
	// (-1: none), so that a search by number, the commonest, walks that
	// number's callbacks only; it fits in what would be padding.
	samePhone int32
}

// Index is the callbacks, by id and newest first.
type Index struct {
	entries []entry
	slots   map[uuid.UUID]int32
	// order is the slots sorted by (requested, id), oldest first: requests
	// arrive in store order, which is nearly that order, so an insert is
	// an append or a short move.
	order []int32
	// byPhone is the latest slot of each number (entry.samePhone chains
	// the others).
	byPhone map[uint64]int32
	names   interner
}

// New is an empty index.
func New() *Index {
	return &Index{slots: map[uuid.UUID]int32{}, byPhone: map[uint64]int32{}, names: interner{ids: map[string]uint32{"": 0}, names: []string{""}}}
}

// Len is the number of callbacks indexed.
func (x *Index) Len() int { return len(x.entries) }

// Apply folds one event of stream (intake-callback-<id>).
func (x *Index) Apply(stream string, m proto.Message) {
	id, err := uuid.Parse(strings.TrimPrefix(stream, StreamPrefix))
	if err != nil {
		return
	}
	slot, ok := x.slots[id]
	if !ok {
		if _, ok := m.(*callbackv1.CallbackRequested); !ok {
			return // voided, or a stream that is not a callback
		}
		slot = int32(len(x.entries))
		x.entries = append(x.entries, entry{id: id})
		x.slots[id] = slot
	}
	e := &x.entries[slot]
	st := callback.Evolve(callback.State{ID: id.String(), Exists: ok, Status: e.state, ScheduledFor: unms(e.scheduled),
		UpdatedAt: unms(e.updated), Agent: x.names.name(e.agent)}, m)
	e.state, e.scheduled, e.updated = st.Status, ms(st.ScheduledFor), ms(st.UpdatedAt)
	e.agent = x.names.id(st.Agent)
	if !ok {
		r := st.Request
		e.service = x.names.id(r.GetService())
		e.phone = phoneDigits(r.GetPhoneNumber())
		e.requested = ms(r.GetRequestedAt().AsTime())
		e.samePhone = -1
		if e.phone != 0 {
			if prev, ok := x.byPhone[e.phone]; ok {
				e.samePhone = prev
			}
			x.byPhone[e.phone] = slot
		}
		x.insert(slot)
	}
}

// Erase forgets the numbers erased says are of a contact who was erased
// (crypto-shredded): the store reads them "[erased]" from now on, and so
// must the index. It asks once per number, not per callback.
func (x *Index) Erase(erased func(number string) bool) int {
	n := 0
	for phone, slot := range x.byPhone {
		if !erased(phoneString(phone)) {
			continue
		}
		// Its chain goes with it: nothing keeps the number.
		delete(x.byPhone, phone)
		for ; slot >= 0; slot = x.entries[slot].samePhone {
			x.entries[slot].phone = 0
			n++
		}
	}
	return n
}

func (x *Index) insert(slot int32) {
	less := func(a, b int32) int { return compare(&x.entries[a], &x.entries[b]) }
	i := len(x.order)
	for i > 0 && less(x.order[i-1], slot) > 0 {
		i--
	}
	x.order = slices.Insert(x.order, i, slot)
}

// compare orders entries by (requested, id).
func compare(a, b *entry) int {
	if c := cmp.Compare(a.requested, b.requested); c != 0 {
		return c
	}
	return slices.Compare(a.id[:], b.id[:])
}

// compareCursor orders an entry against a cursor, as compare does.
func compareCursor(e *entry, c Cursor) int {
	if v := cmp.Compare(e.requested, c.requested); v != 0 {
		return v
	}
	return slices.Compare(e.id[:], c.id[:])
}

// TimeField is the time a range filters on.
type TimeField uint8

// Time fields.
const (
	RequestedAt TimeField = iota
	ScheduledFor
	UpdatedAt
)

// ParseTimeField reads requested_at, scheduled_for or updated_at.
func ParseTimeField(s string) (TimeField, bool) {
	switch s {
	case "", "requested_at":
		return RequestedAt, true
	case "scheduled_for":
		return ScheduledFor, true
	case "updated_at":
		return UpdatedAt, true
	}
	return 0, false
}

// Filter is what a list asks for; a zero field matches everything.
type Filter struct {
	// Services: any of them; nil matches every service, an empty non-nil
	// slice none.
	Services []string
	States   []callbackv1.CallbackState // any of them
	Phone    string                     // E.164, exact
	Agent    string
	Field    TimeField
	From, To time.Time // From <= t < To on Field
}

// Item is a callback as a list shows it.
type Item struct {
	ID           string     `json:"id"`
	State        string     `json:"state"`
	Service      string     `json:"service"`
	PhoneNumber  string     `json:"phone_number"`
	Agent        string     `json:"agent,omitempty"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
	RequestedAt  time.Time  `json:"requested_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// Cursor is where a page ended: the (requested, id) of its last item.
type Cursor struct {
	requested int64
	id        uuid.UUID
}

// ErrCursor: a cursor this index did not make.
var ErrCursor = errors.New("index: not a cursor of this list")

// String is the cursor as the API passes it: opaque, URL-safe.
func (c Cursor) String() string {
	var b [24]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.requested))
	copy(b[8:], c.id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ParseCursor reads a cursor from String.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 24 {
		return Cursor{}, ErrCursor
	}
	c := Cursor{requested: int64(binary.BigEndian.Uint64(b[:8]))}
	copy(c.id[:], b[8:])
	return c, nil
}

// List is at most limit callbacks matching f, newest request first,
// after the cursor (nil: from the newest); next is nil on the last page.
func (x *Index) List(f Filter, after *Cursor, limit int) (items []Item, next *Cursor) {
	m := x.matcher(f)
	if m.none {
		return nil, nil
	}
	if m.phone != 0 {
		return x.listPhone(m, after, limit)
	}
	end := len(x.order)
	if after != nil {
		// The first entry at or after the cursor, in (requested, id) order.
		end, _ = slices.BinarySearchFunc(x.order, *after, func(slot int32, c Cursor) int {
			return compareCursor(&x.entries[slot], c)
		})
	}
	// A range of requested_at is a range of the order: from its end down
	// to its start, not the whole of it.
	if m.field == RequestedAt && m.to != 0 {
		to, _ := slices.BinarySearchFunc(x.order, m.to, func(slot int32, t int64) int { return cmp.Compare(x.entries[slot].requested, t) })
		end = min(end, to)
	}
	// One more than the page, to know whether another follows.
	for i := end - 1; i >= 0 && len(items) <= limit; i-- {
		e := &x.entries[x.order[i]]
		if m.field == RequestedAt && m.from != 0 && e.requested < m.from {
			break
		}
		if m.match(e) {
			items = append(items, x.item(e))
		}
	}
	return x.page(items, limit)
}

// listPhone is List for one number: its callbacks, by their chain.
func (x *Index) listPhone(m matcher, after *Cursor, limit int) ([]Item, *Cursor) {
	var slots []int32
	slot, ok := x.byPhone[m.phone]
	for ; ok && slot >= 0; slot = x.entries[slot].samePhone {
		e := &x.entries[slot]
		if m.match(e) && (after == nil || compareCursor(e, *after) < 0) {
			slots = append(slots, slot)
		}
	}
	slices.SortFunc(slots, func(a, b int32) int { return compare(&x.entries[b], &x.entries[a]) })
	var items []Item
	for _, slot := range slots[:min(len(slots), limit+1)] {
		items = append(items, x.item(&x.entries[slot]))
	}
	return x.page(items, limit)
}

// page cuts items, one more than limit if another page follows, to limit,
// with the cursor of the next page.
func (x *Index) page(items []Item, limit int) (_ []Item, next *Cursor) {
	if len(items) > limit {
		items = items[:limit]
		if limit > 0 {
			last := items[limit-1]
			c := Cursor{requested: last.RequestedAt.UnixMilli(), id: uuid.MustParse(last.ID)}
			next = &c
		}
	}
	return items, next
}

func (x *Index) item(e *entry) Item {
	it := Item{ID: e.id.String(), State: strings.TrimPrefix(e.state.String(), "CALLBACK_STATE_"),
		Service: x.names.name(e.service), Agent: x.names.name(e.agent), RequestedAt: unms(e.requested), UpdatedAt: unms(e.updated)}
	if e.phone != 0 {
		it.PhoneNumber = phoneString(e.phone)
	} else {
		it.PhoneNumber = personal.Erased
	}
	if e.scheduled != 0 {
		t := unms(e.scheduled)
		it.ScheduledFor = &t
	}
	return it
}

// matcher is a Filter in the index's terms.
type matcher struct {
	none     bool   // matches nothing (a service or agent never seen)
	services []bool // by name id; nil: any
	states   uint32 // bit per state; 0: any
	phone    uint64 // 0: any
	agent    uint32 // 0: any
	field    TimeField
	from, to int64 // unix ms; 0: open
}

func (x *Index) matcher(f Filter) matcher {
	m := matcher{field: f.Field}
	if f.Services != nil {
		m.services = make([]bool, len(x.names.names))
		any := false
		for _, s := range f.Services {
			if id, ok := x.names.ids[s]; ok && id != 0 {
				m.services[id], any = true, true
			}
		}
		m.none = m.none || !any
	}
	for _, st := range f.States {
		m.states |= 1 << uint(st)
	}
	if f.Phone != "" {
		if m.phone = phoneDigits(f.Phone); m.phone == 0 {
			m.none = true
		}
	}
	if f.Agent != "" {
		id, ok := x.names.ids[f.Agent]
		m.agent, m.none = id, m.none || !ok
	}
	if !f.From.IsZero() {
		m.from = ms(f.From)
	}
	if !f.To.IsZero() {
		m.to = ms(f.To)
	}
	return m
}

func (m *matcher) match(e *entry) bool {
	if m.services != nil && (int(e.service) >= len(m.services) || !m.services[e.service]) {
		return false
	}
	if m.states != 0 && m.states&(1<<uint(e.state)) == 0 {
		return false
	}
	if m.phone != 0 && e.phone != m.phone {
		return false
	}
	if m.agent != 0 && e.agent != m.agent {
		return false
	}
	if m.from == 0 && m.to == 0 {
		return true
	}
	t := e.requested
	switch m.field {
	case ScheduledFor:
		if e.scheduled == 0 {
			return false
		}
		t = e.scheduled
	case UpdatedAt:
		t = e.updated
	}
	return (m.from == 0 || t >= m.from) && (m.to == 0 || t < m.to)
}

// interner numbers the services' and agents' names: a few hundred at
// most, each kept once however many callbacks name it.
type interner struct {
	ids   map[string]uint32
	names []string
}

func (n *interner) id(s string) uint32 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	id := uint32(len(n.names))
	n.ids[s] = id
	n.names = append(n.names, s)
	return id
}

func (n *interner) name(id uint32) string { return n.names[id] }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func unms(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// phoneDigits is an E.164 number as a number: at most 15 digits after the
// plus, the first not 0, so it fits and round-trips. 0: not E.164 (an
// erased number reads "[erased]").
func phoneDigits(s string) uint64 {
	d, ok := strings.CutPrefix(s, "+")
	if !ok || len(d) < 2 || len(d) > 15 || d[0] == '0' {
		return 0
	}
	v, err := strconv.ParseUint(d, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func phoneString(v uint64) string { return "+" + strconv.FormatUint(v, 10) }
