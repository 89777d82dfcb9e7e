package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

const poisonSource = "ringback.intake"

// poisonOne runs ringback's router on Kafka with a handler that cannot apply
// the message "bad": the middleware sets it aside on ringback.poison. The
// good message is handled.
func poisonOne(t *testing.T, brokers []string) {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: brokers, ConsumerGroup: "history",
		HeartbeatInterval: 100 * time.Millisecond, JoinGroupBackoff: 100 * time.Millisecond,
		RebalanceTimeout: 2 * time.Second, DrainTimeout: time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r, err := bus.NewRouter(bus.RouterConfig{Retry: bus.RetryConfig{MaxRetries: 1, InitialInterval: time.Millisecond}, CloseTimeout: time.Second},
		watermill.NopLogger{}, pub)
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 2)
	r.AddConsumerHandler("history@"+poisonSource, poisonSource, sub, func(m *message.Message) error {
		if m.UUID == "bad" {
			return errors.New("history: cannot apply CallbackRequested:\nno such interaction")
		}
		handled <- m.UUID
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	bad := message.NewMessage("bad", []byte("payload"))
	bad.Metadata.Set(kafka.PartitionKeyMetadata, "intake-callback-7")
	bad.Metadata.Set("ce_type", "callback.v1.CallbackRequested")
	if err := pub.Publish(poisonSource, bad, message.NewMessage("good", nil)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-handled:
		if id != "good" {
			t.Fatalf("handled %s", id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("good message not handled")
	}
	// The poisoned one is acked too once it is on the poison topic; wait
	// until list sees it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"poison", "list", "--json", "--kafka-brokers", brokers[0]}, noEnv, &out, &out); err == nil && strings.Contains(out.String(), `"bad"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing on the poison topic")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPoisonListAndRedrive(t *testing.T) {
	brokers := kafkatest.StartBroker(t)
	env := func(k string) string {
		if k == "RINGBACK_KAFKA_BROKERS" {
			return brokers[0]
		}
		return ""
	}
	ringback := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, env, &out, &out)
		return out.String(), err
	}

	// Nothing poisoned yet: no topic, an empty list.
	out, err := ringback("poison", "list")
	if err != nil || !strings.Contains(out, "0 poisoned message(s)") {
		t.Fatalf("list before any poison: %v\n%s", err, out)
	}

	poisonOne(t, brokers)

	out, err = ringback("poison", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bad", "callback.v1.CallbackRequested", poisonSource, "intake-callback-7", "history@" + poisonSource,
		"history: cannot apply CallbackRequested: no such interaction", "1 poisoned message(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out, err = ringback("poison", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var p poisoned
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if p.ID != "bad" || p.Topic != poisonSource || p.Key != "intake-callback-7" || time.Since(p.PoisonedAt) > time.Minute {
		t.Errorf("json %+v", p)
	}

	// Mistakes change nothing.
	var ue *usageError
	if _, err := ringback("poison", "redrive"); !errors.As(err, &ue) {
		t.Errorf("redrive without --id or --all: %v, want a usage error", err)
	}
	if _, err := ringback("poison", "redrive", "--id", "bad", "--all"); !errors.As(err, &ue) {
		t.Errorf("redrive with --id and --all: %v, want a usage error", err)
	}
	if out, err := ringback("poison", "redrive", "--id", "bad", "--id", "typo"); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Errorf("redrive of an unknown id: %v\n%s", err, out)
	}

	// A fresh group on the source topic sees what is re-driven.
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: brokers, ConsumerGroup: "audit"}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(context.Background(), poisonSource)
	if err != nil {
		t.Fatal(err)
	}
	next := func() *message.Message {
		t.Helper()
		select {
		case m := <-msgs:
			m.Ack()
			return m
		case <-time.After(20 * time.Second):
			t.Fatal("no message")
			return nil
		}
	}
	seen := map[string]int{}
	for range 2 { // the original two
		seen[next().UUID]++
	}

	// Re-driving twice is harmless: the same id both times, which consumers
	// deduplicate.
	for i := range 2 {
		out, err = ringback("poison", "redrive", "--id", "bad")
		if err != nil || !strings.Contains(out, "1 message(s) re-driven") {
			t.Fatalf("redrive %d: %v\n%s", i, err, out)
		}
		m := next()
		if m.UUID != "bad" || string(m.Payload) != "payload" || m.Metadata.Get(kafka.PartitionKeyMetadata) != "intake-callback-7" ||
			m.Metadata.Get("ce_type") != "callback.v1.CallbackRequested" {
			t.Fatalf("re-driven %s %q %v", m.UUID, m.Payload, m.Metadata)
		}
		for _, k := range []string{middleware.ReasonForPoisonedKey, middleware.PoisonedHandlerKey, bus.PoisonedAtKey} {
			if m.Metadata.Get(k) != "" {
				t.Errorf("re-driven message still carries %s", k)
			}
		}
		if m.Metadata.Get(RedrivenFromKey) == "" {
			t.Error("re-driven message does not say where from")
		}
	}
	out, err = ringback("poison", "redrive", "--all")
	if err != nil || !strings.Contains(out, "1 message(s) re-driven") {
		t.Fatalf("redrive --all: %v\n%s", err, out)
	}
	if m := next(); m.UUID != "bad" {
		t.Fatalf("after --all got %s", m.UUID)
	}
	if seen["bad"] != 1 || seen["good"] != 1 {
		t.Errorf("source topic before re-drive: %v", seen)
	}
}
