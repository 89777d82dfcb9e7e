// Package eventdoc writes the event catalogue (docs/events.md) for the
// consumers of ringback's Kafka topics. It reads the schemas twice: the
// descriptors linked into the binary (proto/catalog) for the fields, their
// types and the personal-data options, which are what the services really
// encode; and the .proto sources for the comments, which protoc-gen-go
// leaves out of the descriptors. Topic, key and CloudEvents attributes come
// from libs/envelope applied to each event's stream, so the catalogue says
// what the relay does, not what someone remembered.
//
// The writing stream of an event is the one its comment names ("Stream
// intake-callback-<id>"), or else the first one its file's comment names;
// an event with neither is an error: every event says where it lives.
package eventdoc

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	personalv1 "github.com/ringback/ringback/proto/ringback/personal/v1"

	_ "github.com/ringback/ringback/proto/catalog" // links every event schema
)

// Event is one event type as the catalogue shows it.
type Event struct {
	Name    protoreflect.FullName
	Comment string
	Stream  string // the stream pattern, e.g. intake-callback-<id>
	Fields  []Field
}

// Package is the events of one .proto package, in source order.
type Package struct {
	Name    protoreflect.FullName
	File    string // path under proto/
	Comment string
	Events  []Event
	Enums   []Enum
}

// Field is one field, nested message fields flattened with dotted names.
type Field struct {
	Name     string
	Number   int32
	Type     string
	Comment  string
	Personal bool
	Contact  bool
	Embedded string // the sibling naming the type of an embedded event
}

// Enum is an enum declared in a package, for reading enum fields.
type Enum struct {
	Name   protoreflect.FullName
	Values []EnumValue
}

// EnumValue is one value of an Enum.
type EnumValue struct {
	Name    string
	Number  int32
	Comment string
}

// Sealed lists the event's personal fields.
func (e Event) Sealed() []string {
	var out []string
	for _, f := range e.Fields {
		if f.Personal || f.Embedded != "" {
			out = append(out, f.Name)
		}
	}
	return out
}

var streamRE = regexp.MustCompile(`\b[Ss]tream\s+([a-z]+(?:-(?:[a-z0-9]*<[^>]+>|[a-z0-9]+))+)`)

// Load reads every .proto file under protoRoot/ringback.
func Load(ctx context.Context, protoRoot string) ([]Package, error) {
	var names []string
	err := filepath.WalkDir(filepath.Join(protoRoot, "ringback"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".proto") {
			rel, err := filepath.Rel(protoRoot, p)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	slices.Sort(names)
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{protoRoot}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("compile schemas: %w", err)
	}

	// A message another message holds is a part of events, not an event,
	// unless its own comment names its stream: an event told on inside
	// another (InteractionClosed.withdrawn_for) is an event still.
	held := map[protoreflect.FullName]bool{}
	for _, f := range files {
		msgs := f.Messages()
		for i := 0; i < msgs.Len(); i++ {
			fields := msgs.Get(i).Fields()
			for j := 0; j < fields.Len(); j++ {
				if m := fields.Get(j).Message(); m != nil {
					held[m.FullName()] = true
				}
			}
		}
	}

	var pkgs []Package
	for _, src := range files {
		pkg := Package{Name: src.Package(), File: src.Path(),
			Comment: comment(src.SourceLocations().ByPath(protoreflect.SourcePath{2}).LeadingComments)}
		fileStreams := streams(pkg.Comment)
		msgs := src.Messages()
		for i := 0; i < msgs.Len(); i++ {
			sm := msgs.Get(i)
			ev := Event{Name: sm.FullName(), Comment: comment(src.SourceLocations().ByDescriptor(sm).LeadingComments)}
			if (held[sm.FullName()] && len(streams(ev.Comment)) == 0) || sm.IsMapEntry() {
				continue
			}
			mt, err := protoregistry.GlobalTypes.FindMessageByName(sm.FullName())
			if err != nil {
				return nil, fmt.Errorf("%s is in %s but not linked into the binary (make proto): %w", sm.FullName(), src.Path(), err)
			}
			switch s := streams(ev.Comment); {
			case len(s) > 0:
				ev.Stream = s[0]
			case len(fileStreams) > 0:
				ev.Stream = fileStreams[0]
			default:
				return nil, fmt.Errorf("%s (%s): its comment names no stream (say \"Stream <service>-<kind>-<id>\")", sm.FullName(), src.Path())
			}
			ev.Fields = fieldsOf(mt.Descriptor(), sm, "", map[protoreflect.FullName]bool{})
			pkg.Events = append(pkg.Events, ev)
		}
		enums := src.Enums()
		for i := 0; i < enums.Len(); i++ {
			e := enums.Get(i)
			en := Enum{Name: e.FullName()}
			for j := 0; j < e.Values().Len(); j++ {
				v := e.Values().Get(j)
				loc := src.SourceLocations().ByDescriptor(v)
				en.Values = append(en.Values, EnumValue{Name: string(v.Name()), Number: int32(v.Number()),
					Comment: comment(loc.LeadingComments + " " + loc.TrailingComments)})
			}
			pkg.Enums = append(pkg.Enums, en)
		}
		if len(pkg.Events) > 0 || len(pkg.Enums) > 0 {
			pkgs = append(pkgs, pkg)
		}
	}
	return pkgs, nil
}

// fieldsOf flattens md's fields: gen is the linked descriptor (types and
// options), src the compiled source one (comments).
func fieldsOf(gen, src protoreflect.MessageDescriptor, prefix string, seen map[protoreflect.FullName]bool) []Field {
	seen[gen.FullName()] = true
	defer delete(seen, gen.FullName())
	var out []Field
	fields := gen.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		f := Field{Name: prefix + string(fd.Name()), Number: int32(fd.Number()), Type: typeOf(fd)}
		if src != nil {
			if sf := src.Fields().ByName(fd.Name()); sf != nil {
				loc := sf.ParentFile().SourceLocations().ByDescriptor(sf)
				f.Comment = comment(loc.LeadingComments + " " + loc.TrailingComments)
			}
		}
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts != nil {
			f.Personal = proto.GetExtension(opts, personalv1.E_Personal).(bool)
			f.Contact = proto.GetExtension(opts, personalv1.E_Contact).(bool)
			f.Embedded = proto.GetExtension(opts, personalv1.E_EmbeddedType).(string)
		}
		out = append(out, f)
		// Parts of ringback's own schemas are shown inline, so that a
		// consumer sees every leaf (request.phone_number) and what is sealed.
		if m := fd.Message(); m != nil && !fd.IsMap() && strings.HasPrefix(string(m.FullName()), "ringback.") && !seen[m.FullName()] {
			var sub protoreflect.MessageDescriptor
			if src != nil {
				if sf := src.Fields().ByName(fd.Name()); sf != nil {
					sub = sf.Message()
				}
			}
			p := f.Name + "."
			if fd.IsList() {
				p = f.Name + "[]."
			}
			out = append(out, fieldsOf(m, sub, p, seen)...)
		}
	}
	return out
}

func typeOf(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "map<" + kindName(fd.MapKey()) + ", " + kindName(fd.MapValue()) + ">"
	}
	if fd.IsList() {
		return "repeated " + kindName(fd)
	}
	return kindName(fd)
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func streams(c string) []string {
	var out []string
	for _, m := range streamRE.FindAllStringSubmatch(c, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// comment joins a comment's lines into one paragraph.
func comment(c string) string {
	return strings.Join(strings.Fields(c), " ")
}
