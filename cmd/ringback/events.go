package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/proto/catalog"
)

// KcatFormat is the kcat -f format `ringback events decode` reads: the
// record's headers (n=v CSV), the value's length, the value. The length
// frames the binary value, so records follow one another on one stream.
const KcatFormat = `%h\n%S\n%s`

const eventsUsage = `usage: ringback events decode [--type TYPE]

Reads Kafka records of ringback's topics on stdin, as kcat writes them with
  -f '` + KcatFormat + `'
and prints each as one line of JSON: its CloudEvents attributes and the
event, decoded by its ce_type (docs/events.md lists them). Personal fields
print as sealed on the bus (rbp1:...).

  kcat -b localhost:29092 -t ringback.intake -C -e -f '` + KcatFormat + `' | ringback events decode

With --type, stdin is one event's protobuf value alone (kcat -f '%s' -c 1).
`

// events runs `ringback events <subcommand>`.
func events(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "decode" {
		_, _ = io.WriteString(stderr, eventsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return &usageError{"events: want the subcommand decode"}
	}
	fs := flag.NewFlagSet("events decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { _, _ = io.WriteString(stderr, eventsUsage) }
	typ := fs.String("type", "", "decode stdin as one value of this event type (protobuf full name)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("events decode: unexpected argument %q", fs.Arg(0))}
	}
	if *typ != "" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("events decode: read stdin: %w", err)
		}
		line, err := decodeRecord(map[string]string{envelope.KeyType: *typ}, data)
		if err != nil {
			return fmt.Errorf("events decode: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", line)
		return err
	}
	return decodeRecords(bufio.NewReader(stdin), stdout, stderr)
}

// decodeRecords decodes records framed by KcatFormat until EOF. A record it
// cannot decode is reported on stderr and counted, and the next one read.
func decodeRecords(r *bufio.Reader, stdout, stderr io.Writer) error {
	failed := 0
	for n := 1; ; n++ {
		headers, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) && headers == "" {
			break
		}
		if err != nil {
			return fmt.Errorf("events decode: record %d: headers: %w", n, err)
		}
		sizeLine, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("events decode: record %d: length: %w (read with kcat -f '%s')", n, err, KcatFormat)
		}
		size, err := strconv.Atoi(strings.TrimSpace(sizeLine))
		if err != nil {
			return fmt.Errorf("events decode: record %d: length %q: %w (read with kcat -f '%s')", n, strings.TrimSpace(sizeLine), err, KcatFormat)
		}
		var value []byte
		if size > 0 {
			value = make([]byte, size)
			if _, err := io.ReadFull(r, value); err != nil {
				return fmt.Errorf("events decode: record %d: value of %d bytes: %w", n, size, err)
			}
		}
		line, err := decodeRecord(parseHeaders(strings.TrimSuffix(headers, "\n")), value)
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "ringback: events decode: record %d: %v\n", n, err)
			continue
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("events decode: %d records could not be decoded", failed)
	}
	return nil
}

// parseHeaders reads kcat's %h: n=v pairs separated by commas. ringback's
// header values hold no comma.
func parseHeaders(s string) map[string]string {
	h := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			h[k] = v
		}
	}
	return h
}

// decoded is one record as printed: the CloudEvents attributes under their
// CloudEvents names, and the event as protobuf JSON.
type decoded struct {
	ID          string          `json:"id,omitempty"`
	Type        string          `json:"type"`
	Source      string          `json:"source,omitempty"`
	Subject     string          `json:"subject,omitempty"`
	Time        string          `json:"time,omitempty"`
	Correlation string          `json:"correlationid,omitempty"`
	Causation   string          `json:"causationid,omitempty"`
	Data        json.RawMessage `json:"data"`
}

func decodeRecord(h map[string]string, value []byte) ([]byte, error) {
	typ := h[envelope.KeyType]
	if typ == "" {
		return nil, fmt.Errorf("no %s header: not a ringback event", envelope.KeyType)
	}
	ev, err := catalog.Decode(typ, value)
	if err != nil {
		return nil, err
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("%s as JSON: %w", typ, err)
	}
	return json.Marshal(decoded{ID: h[envelope.KeyID], Type: typ, Source: h[envelope.KeySource], Subject: h[envelope.KeySubject],
		Time: h[envelope.KeyTime], Correlation: h[envelope.KeyCorrelation], Causation: h[envelope.KeyCausation], Data: data})
}
