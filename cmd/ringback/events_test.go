package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/relay"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
)

// The README's way of reading a topic: a callback stored (sealed, as
// serve stores it), published by the relay onto a Kafka broker, read with
// kcat in the documented format and decoded by `ringback events decode`.
func TestEventsDecodeReadsWhatKcatReadsFromTheRelay(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if documented := "-f '" + KcatFormat + "' \\\n  | ./bin/ringback events decode"; !strings.Contains(string(readme), documented) {
		t.Fatalf("README's \"Reading the event streams\" does not show %q: this test runs what it shows", documented)
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (Debian: kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokers := kafkatest.StartBroker(t)

	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := personal.OpenDir(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := personal.NewWrapped(keys, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := personal.NewSealer(ks, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const number = "+442079460123"
	ev := &callbackv1.CallbackRequested{CallbackId: "cb-42", Request: &callbackv1.CallbackRequest{
		Service: "support", PhoneNumber: number, Subject: "broken boiler", RequestedAt: timestamppb.Now()}}
	_, err = eventstore.Execute(ctx, personal.NewStore(st, sealer), "intake-callback-cb-42",
		eventstore.Aggregate[int]{Evolve: func(n int, _ proto.Message) int { return n + 1 }},
		eventstore.Cause{ID: "req-1", Correlation: "cb-42"}, func(int) ([]proto.Message, error) { return []proto.Message{ev}, nil })
	if err != nil {
		t.Fatal(err)
	}

	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	rctx, rcancel := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() {
		relayDone <- relay.New(st, pub, relay.InStore(st, "relay-test"), slog.New(slog.NewTextHandler(io.Discard, nil))).Run(rctx)
	}()
	defer func() {
		rcancel()
		if err := <-relayDone; err != nil {
			t.Errorf("relay: %v", err)
		}
	}()

	// The topic appears once the relay published: until then kcat fails.
	var record []byte
	for record == nil {
		out, err := exec.CommandContext(ctx, kcat, "-b", brokers[0], "-t", envelope.Topic("intake-callback-cb-42"),
			"-C", "-o", "beginning", "-c", "1", "-e", "-q", "-f", strings.ReplaceAll(KcatFormat, `\n`, "\n")).Output()
		if err == nil && len(out) > 0 {
			record = out
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("kcat read nothing: %v %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	var stdout, stderr bytes.Buffer
	if err := events(ctx, []string{"decode"}, bytes.NewReader(record), &stdout, &stderr); err != nil {
		t.Fatalf("decode: %v\n%s", err, stderr.String())
	}
	var got struct {
		ID, Type, Source, Subject, Correlationid string
		Data                                     struct {
			CallbackID string `json:"callback_id"`
			Request    struct {
				Service     string
				PhoneNumber string `json:"phone_number"`
				Subject     string
			}
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	stored, err := st.ReadStream(ctx, "intake-callback-cb-42", 0)
	if err != nil || len(stored) != 1 {
		t.Fatalf("read back: %v %d", err, len(stored))
	}
	if got.ID != stored[0].ID || got.Type != "ringback.callback.v1.CallbackRequested" || got.Source != "ringback/intake" ||
		got.Subject != "intake-callback-cb-42" || got.Correlationid != "cb-42" {
		t.Errorf("attributes: %+v, want the stored event's (id %s)", got, stored[0].ID)
	}
	if got.Data.CallbackID != "cb-42" || got.Data.Request.Service != "support" {
		t.Errorf("data: %+v", got.Data)
	}
	// docs/events.md says personal fields travel sealed.
	for _, v := range []string{got.Data.Request.PhoneNumber, got.Data.Request.Subject} {
		if !strings.HasPrefix(v, "rbp1:") || strings.Contains(stdout.String(), number) {
			t.Errorf("personal field %q is not sealed on the bus: %s", v, stdout.String())
		}
	}
}

// A stream of records, one not ringback's: each decodable one is printed,
// the other reported, and the run fails saying how many.
func TestEventsDecodeStreamAndBadRecords(t *testing.T) {
	data, err := proto.Marshal(&callbackv1.CallbackCancelled{CallbackId: "cb-1", Reason: "x\ny,z"})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(headers string, value []byte) string {
		return headers + "\n" + strconv.Itoa(len(value)) + "\n" + string(value)
	}
	in := rec("ce_type=ringback.callback.v1.CallbackCancelled,ce_subject=intake-callback-cb-1", data) +
		rec("other=1", []byte("junk")) +
		rec("ce_type=ringback.callback.v1.CallbackCancelled,ce_id=e2", data)
	var stdout, stderr bytes.Buffer
	err = events(context.Background(), []string{"decode"}, strings.NewReader(in), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "1 records") {
		t.Errorf("err = %v, want 1 record undecodable", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"subject":"intake-callback-cb-1"`) || !strings.Contains(lines[1], `"id":"e2"`) ||
		!strings.Contains(lines[0], `"reason":"x\ny,z"`) {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "record 2: no ce_type") {
		t.Errorf("stderr: %s", stderr.String())
	}

	stdout.Reset()
	if err := events(context.Background(), []string{"decode", "--type", "ringback.callback.v1.CallbackCancelled"}, bytes.NewReader(data), &stdout, &stderr); err != nil ||
		!strings.Contains(stdout.String(), `"callback_id":"cb-1"`) {
		t.Errorf("--type: %v %s", err, stdout.String())
	}
	if err := events(context.Background(), []string{"decode", "--type", "no.Such"}, bytes.NewReader(data), &stdout, &stderr); err == nil {
		t.Error("--type of an unknown event: no error")
	}
	var ue *usageError
	if err := events(context.Background(), []string{"encode"}, nil, &stdout, &stderr); !errors.As(err, &ue) {
		t.Errorf("unknown subcommand: %v, want a usage error", err)
	}
}
