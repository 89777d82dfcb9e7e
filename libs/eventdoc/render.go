package eventdoc

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
)

// Deployment is what the catalogue says of the topics' configuration, read
// from the repository's deployment files by the caller.
type Deployment struct {
	Partitions map[string]string // where → partition count, e.g. "deploy/k8s" → "12"
	Retention  map[string]string // where → retention setting; none: the broker's default
}

// Render writes the catalogue as Markdown.
func Render(w io.Writer, pkgs []Package, dep Deployment) error {
	b := &strings.Builder{}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }

	p("# Event catalogue\n\n")
	p("<!-- Generated from proto/ by `make events` (libs/eventdoc); do not edit. A test fails when it is not current. -->\n\n")
	p("Every event ringback stores is published by the relay (libs/relay) to Kafka, at least once, in the order of its stream.\n")
	p("This lists every event type with its topic, key, CloudEvents attributes and fields. ")
	p("See README, \"Reading the event streams\", to read a topic with `kcat` and decode it with `ringback events decode`.\n\n")

	p("## The Kafka record\n\n")
	p("- **Topic**: one per writing service, named by the first segment of the stream: `%s<service>` (stream `intake-callback-42` → `%s`).\n",
		envelope.TopicPrefix, envelope.Topic("intake-callback-42"))
	p("- **Key**: the stream id (header `%s`), so one stream's events share a partition and are read in order. Streams hold no personal data: a number appears in no stream name or key.\n", envelope.KeyPartitionKey)
	p("- **Value**: the event, protobuf binary (`%s`) of the message named by `%s`. CloudEvents Kafka binding, binary content mode: the attributes are headers.\n", envelope.ContentType, envelope.KeyType)
	p("- **Delivery**: at least once; a replay carries the same `%s`, by which consumers deduplicate.\n", envelope.KeyID)
	p("- **Personal data**: the fields marked sealed below are AES-256-GCM ciphertext (`rbp1:…`) under the contact's own key, on the bus as in the store (libs/personal); they read as `[erased]` once the contact is erased. Everything else is plaintext.\n\n")

	p("Headers of a record (an example: event of stream `intake-callback-42`):\n\n")
	p("| Header | Example | Meaning |\n|---|---|---|\n")
	sample := envelope.ToMessage(eventstore.RecordedEvent{
		ID: "0b6a3f52-7d5e-4c1e-9a57-3f0c2d9e8b11", Stream: "intake-callback-42", Type: "ringback.callback.v1.CallbackRequested",
		Time:     time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC),
		Metadata: map[string]string{eventstore.MetaCorrelation: "42", eventstore.MetaCausation: "c-7", eventstore.MetaTraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	})
	keys := make([]string, 0, len(sample.Metadata))
	for k := range sample.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p("| `%s` | `%s` | %s |\n", k, sample.Metadata[k], headerMeaning[k])
	}
	p("| `%s` | `%s` | the Watermill message id, the event id again |\n", kafka.UUIDHeader, sample.UUID)

	p("\n## Topics\n\n")
	p("Partitions: topics are created by ringback on first use with `--kafka-partitions` partitions (default %d", kafka.DefaultPartitions)
	for _, where := range sortedKeys(dep.Partitions) {
		p("; %s: %s", where, dep.Partitions[where])
	}
	p("); an existing topic keeps its count. Partition = hash of the key (the stream id).\n")
	if len(dep.Retention) == 0 {
		p("Retention: not set by ringback, docker-compose or deploy/k8s: the broker's default (Kafka: `log.retention.hours=168`, 7 days). The event store, not Kafka, is the record.\n\n")
	} else {
		p("Retention:")
		for _, where := range sortedKeys(dep.Retention) {
			p(" %s: %s;", where, dep.Retention[where])
		}
		p("\n\n")
	}
	type topic struct {
		streams []string
		events  []string
	}
	topics := map[string]*topic{}
	for _, pkg := range pkgs {
		for _, e := range pkg.Events {
			t := envelope.Topic(e.Stream)
			if topics[t] == nil {
				topics[t] = &topic{}
			}
			if !slices.Contains(topics[t].streams, e.Stream) {
				topics[t].streams = append(topics[t].streams, e.Stream)
			}
			topics[t].events = append(topics[t].events, fmt.Sprintf("[%s](#%s)", short(e), anchor(e)))
		}
	}
	p("| Topic | Written by | Streams (key) | Events |\n|---|---|---|---|\n")
	for _, t := range sortedKeys(topics) {
		p("| `%s` | %s | %s | %s |\n", t, strings.TrimPrefix(t, envelope.TopicPrefix), code(topics[t].streams), strings.Join(topics[t].events, ", "))
	}
	p("| `%s` | any consumer | as received | messages no handler could apply after its retries (`ringback poison`), headers of the original plus the failure |\n", bus.PoisonTopic)

	for _, pkg := range pkgs {
		p("\n## %s\n\n", pkg.Name)
		p("Schema: `proto/%s`. %s\n", pkg.File, prose(pkg.Comment))
		for _, e := range pkg.Events {
			renderEvent(p, e)
		}
		for _, en := range pkg.Enums {
			p("\n### enum %s\n\n| Value | Number | Meaning |\n|---|---|---|\n", en.Name)
			for _, v := range en.Values {
				p("| `%s` | %d | %s |\n", v.Name, v.Number, cell(v.Comment))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func renderEvent(p func(string, ...any), e Event) {
	m := envelope.ToMessage(eventstore.RecordedEvent{ID: "<event id>", Stream: e.Stream, Type: string(e.Name)})
	p("\n### %s\n\n", e.Name)
	if e.Comment != "" {
		p("%s\n\n", prose(e.Comment))
	}
	p("| | |\n|---|---|\n")
	p("| Written by | %s |\n", strings.TrimPrefix(m.Metadata.Get(envelope.KeySource), "ringback/"))
	p("| Topic | `%s` |\n", envelope.Topic(e.Stream))
	p("| Key (`ce_subject`) | `%s` |\n", m.Metadata.Get(envelope.KeyPartitionKey))
	p("| `ce_type` | `%s` |\n", m.Metadata.Get(envelope.KeyType))
	p("| `ce_source` | `%s` |\n", m.Metadata.Get(envelope.KeySource))
	p("| `ce_dataschema` | `%s` |\n", m.Metadata.Get(envelope.KeyDataSchema))
	if s := e.Sealed(); len(s) > 0 {
		p("| Sealed personal data | %s |\n", code(s))
	} else {
		p("| Sealed personal data | none |\n")
	}
	p("\n| Field | # | Type | Personal | Description |\n|---|---|---|---|---|\n")
	for _, f := range e.Fields {
		personal := ""
		switch {
		case f.Contact:
			personal = "sealed; the contact's number, chooses the key"
		case f.Personal:
			personal = "sealed"
		case f.Embedded != "":
			personal = "an event of type `" + f.Embedded + "`, its personal fields sealed"
		}
		p("| `%s` | %d | `%s` | %s | %s |\n", f.Name, f.Number, f.Type, personal, cell(f.Comment))
	}
}

var headerMeaning = map[string]string{
	envelope.KeyID:           "event id, unique; deduplicate by it",
	envelope.KeySpecVersion:  "CloudEvents version",
	envelope.KeySource:       "`ringback/<service>`, the writing service",
	envelope.KeyType:         "protobuf full name of the value's message",
	envelope.KeySubject:      "the stream the event belongs to",
	envelope.KeyTime:         "when the event was stored, RFC 3339 UTC",
	envelope.KeyContentType:  "the value's encoding",
	envelope.KeyDataSchema:   "`proto:` and the message name",
	envelope.KeyPartitionKey: "the record key again (the stream)",
	envelope.KeyCorrelation:  "the callback the event belongs to, when it has one",
	envelope.KeyCausation:    "the event or command that caused it, when known",
	envelope.KeyTraceParent:  "W3C trace context of the write, when traced",
	envelope.KeyTraceState:   "W3C trace state, when traced",
}

func short(e Event) string { return string(e.Name.Name()) }

// anchor is GitHub's heading anchor of the event's heading.
func anchor(e Event) string { return strings.ReplaceAll(strings.ToLower(string(e.Name)), ".", "") }

func code(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

// prose escapes a comment for Markdown: <id> would otherwise be taken for
// an HTML tag and vanish.
func prose(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func cell(s string) string { return strings.ReplaceAll(prose(s), "|", `\|`) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
