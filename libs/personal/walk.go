package personal

import (
	"bytes"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ringback/ringback/proto/catalog"
)

// walker visits the personal values of a message along its plan and
// replaces each by what str or bytes return. contact, when set, sees the
// contact's number before any value after it is replaced.
type walker struct {
	contact func(number string) error
	str     func(fd protoreflect.FieldDescriptor, v string) (string, error)
	bytes   func(fd protoreflect.FieldDescriptor, v []byte) ([]byte, error)
	// sealedOf, when set (sealing), returns the sealed form of the
	// embedded event with id whose plaintext is data, if known, so that
	// an event copied as it was read is not sealed again.
	sealedOf func(id string, data []byte) ([]byte, bool)
	// changed is set once a value was replaced by a different one: an
	// event left as it was need not be encoded again.
	changed bool
}

func (w *walker) walk(m protoreflect.Message, p *plan) error {
	for _, s := range p.steps {
		if !m.Has(s.fd) {
			continue // unset, or an empty proto3 scalar, list or map
		}
		switch s.kind {
		case kString:
			v := m.Get(s.fd).String()
			if s.contact && w.contact != nil {
				if err := w.contact(v); err != nil {
					return err
				}
			}
			n, err := w.str(s.fd, v)
			if err != nil {
				return err
			}
			if n != v {
				m.Set(s.fd, protoreflect.ValueOfString(n))
				w.changed = true
			}
		case kBytes:
			v := m.Get(s.fd).Bytes()
			n, err := w.bytes(s.fd, v)
			if err != nil {
				return err
			}
			if !bytes.Equal(n, v) {
				m.Set(s.fd, protoreflect.ValueOfBytes(n))
				w.changed = true
			}
		case kListString:
			l := m.Mutable(s.fd).List()
			for i := 0; i < l.Len(); i++ {
				if v := l.Get(i).String(); v != "" {
					n, err := w.str(s.fd, v)
					if err != nil {
						return err
					}
					l.Set(i, protoreflect.ValueOfString(n))
					w.changed = w.changed || n != v
				}
			}
		case kMapString:
			if err := w.mapValues(m.Mutable(s.fd).Map(), s.fd); err != nil {
				return err
			}
		case kMessage:
			if err := w.walk(m.Mutable(s.fd).Message(), s.sub); err != nil {
				return err
			}
		case kListMessage:
			l := m.Mutable(s.fd).List()
			for i := 0; i < l.Len(); i++ {
				if err := w.walk(l.Get(i).Message(), s.sub); err != nil {
					return err
				}
			}
		case kEmbedded:
			if w.sealedOf != nil && s.idFD != nil {
				v := m.Get(s.fd).Bytes()
				if n, ok := w.sealedOf(m.Get(s.idFD).String(), v); ok {
					if !bytes.Equal(n, v) {
						m.Set(s.fd, protoreflect.ValueOfBytes(n))
						w.changed = true
					}
					continue
				}
			}
			n, changed, err := w.embedded(m.Get(s.typeFD).String(), m.Get(s.fd).Bytes())
			if err != nil {
				return err
			}
			if changed {
				m.Set(s.fd, protoreflect.ValueOfBytes(n))
				w.changed = true
			}
		}
	}
	return nil
}

// mapValues replaces the values of a map in a stable order (so a test can
// compare) and leaves empty values empty.
func (w *walker) mapValues(mp protoreflect.Map, fd protoreflect.FieldDescriptor) error {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		if v.String() != "" {
			keys = append(keys, k)
		}
		return true
	})
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		if a.String() < b.String() {
			return -1
		}
		return 1
	})
	vfd := fd.MapValue()
	for _, k := range keys {
		v := mp.Get(k).String()
		n, err := w.str(vfd, v)
		if err != nil {
			return err
		}
		if n != v {
			mp.Set(k, protoreflect.ValueOfString(n))
			w.changed = true
		}
	}
	return nil
}

// embedded walks an event held as bytes (history's audit trail, a forwarded
// call control) so that only its personal fields change. A type this binary
// does not know is left as it is: it cannot be told apart.
func (w *walker) embedded(typeName string, data []byte) ([]byte, bool, error) {
	inner, err := catalog.New(typeName)
	if err != nil {
		return data, false, nil
	}
	p := planFor(inner.ProtoReflect().Descriptor())
	if p == nil {
		return data, false, nil
	}
	if err := proto.Unmarshal(data, inner); err != nil {
		return data, false, nil
	}
	before := w.changed
	w.changed = false
	defer func() { w.changed = w.changed || before }()
	if err := w.walk(inner.ProtoReflect(), p); err != nil {
		return nil, false, err
	}
	if !w.changed {
		return data, false, nil
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(inner)
	if err != nil {
		return nil, false, fmt.Errorf("embedded %s: %w", typeName, err)
	}
	return out, true, nil
}
