// Package catalog links every event schema of ringback into the binary so
// that an event can be decoded from its type name alone, and says which
// service (and so which bus topic) writes each package.
package catalog

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/ringback/ringback/proto/ringback/agent/v1"
	_ "github.com/ringback/ringback/proto/ringback/callback/v1"
	_ "github.com/ringback/ringback/proto/ringback/disposition/v1"
	_ "github.com/ringback/ringback/proto/ringback/history/v1"
	_ "github.com/ringback/ringback/proto/ringback/media/v1"
	_ "github.com/ringback/ringback/proto/ringback/routing/v1"
)

// TypeName is the name an event is stored and published under.
func TypeName(m proto.Message) string {
	return string(m.ProtoReflect().Descriptor().FullName())
}

// New returns an empty message of the named event type.
func New(typeName string) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		return nil, fmt.Errorf("event type %q: %w", typeName, err)
	}
	return mt.New().Interface(), nil
}

// Decode parses data as the named event type.
func Decode(typeName string, data []byte) (proto.Message, error) {
	m, err := New(typeName)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeName, err)
	}
	return m, nil
}

// Short is the event's type without its package, as shown to people.
func Short(typeName string) string {
	if i := strings.LastIndexByte(typeName, '.'); i >= 0 {
		return typeName[i+1:]
	}
	return typeName
}
