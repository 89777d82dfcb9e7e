package personal

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	personalv1 "github.com/ringback/ringback/proto/ringback/personal/v1"
)

// kind is what the walker does with one field.
type kind uint8

const (
	kString      kind = iota // personal string
	kBytes                   // personal bytes
	kListString              // personal repeated string
	kMapString               // personal map<_, string>: the values
	kMessage                 // a message that holds personal fields
	kListMessage             // a repeated message that holds personal fields
	kEmbedded                // bytes holding a whole event, type named by a sibling
)

type step struct {
	fd      protoreflect.FieldDescriptor
	kind    kind
	contact bool                         // the value is the contact's number
	sub     *plan                        // kMessage, kListMessage
	typeFD  protoreflect.FieldDescriptor // kEmbedded: the sibling naming the type
	// idFD is kEmbedded's sibling event_id, when there is one: the id of
	// the embedded event, whose sealed form the Sealer may still hold.
	idFD protoreflect.FieldDescriptor
}

// plan is the personal content of one message type, read once from the
// schema's field options. Contact steps come first so that the key is known
// before the first value is sealed (a number in a field after the values,
// as in history's InteractionEventRecorded, still chooses the key).
type plan struct {
	steps      []step
	hasContact bool
}

var plans sync.Map // protoreflect.FullName → *plan (nil: nothing personal)

// planFor returns the plan of md, nil when the type can hold no personal
// value: then the event is stored and read without being decoded here.
func planFor(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	p := build(md, map[protoreflect.FullName]bool{})
	plans.Store(md.FullName(), p)
	return p
}

func build(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) *plan {
	if seen[md.FullName()] {
		return nil // a recursive type: the schemas have none with personal data
	}
	seen[md.FullName()] = true
	defer delete(seen, md.FullName())
	var first, rest []step
	hasContact := false
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		opts, _ := fd.Options().(*descriptorpb.FieldOptions)
		isPersonal := opts != nil && proto.GetExtension(opts, personalv1.E_Personal).(bool)
		isContact := opts != nil && proto.GetExtension(opts, personalv1.E_Contact).(bool)
		embedded := ""
		if opts != nil {
			embedded = proto.GetExtension(opts, personalv1.E_EmbeddedType).(string)
		}
		var s step
		switch {
		case embedded != "" && fd.Kind() == protoreflect.BytesKind && !fd.IsList():
			tf := fields.ByName(protoreflect.Name(embedded))
			if tf == nil || tf.Kind() != protoreflect.StringKind {
				continue
			}
			s = step{fd: fd, kind: kEmbedded, typeFD: tf}
			if idf := fields.ByName("event_id"); idf != nil && idf.Kind() == protoreflect.StringKind && !idf.IsList() {
				s.idFD = idf
			}
		case isPersonal && fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.StringKind {
				continue
			}
			s = step{fd: fd, kind: kMapString}
		case isPersonal && fd.IsList() && fd.Kind() == protoreflect.StringKind:
			s = step{fd: fd, kind: kListString}
		case isPersonal && fd.Kind() == protoreflect.StringKind:
			s = step{fd: fd, kind: kString, contact: isContact}
		case isPersonal && fd.Kind() == protoreflect.BytesKind && !fd.IsList():
			s = step{fd: fd, kind: kBytes}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			sub := build(fd.Message(), seen)
			if sub == nil {
				continue
			}
			s = step{fd: fd, kind: kMessage, sub: sub}
			if fd.IsList() {
				s.kind = kListMessage
			}
		default:
			continue
		}
		if s.contact || (s.sub != nil && s.sub.hasContact) {
			hasContact = true
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	if len(first)+len(rest) == 0 {
		return nil
	}
	return &plan{steps: append(first, rest...), hasContact: hasContact}
}
