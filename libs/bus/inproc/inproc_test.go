package inproc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

func TestEveryGroupGetsEveryMessageAndPublishWaitsForAcks(t *testing.T) {
	b := New(nil)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := b.Subscriber("a").Subscribe(ctx, "t")
	c, _ := b.Subscriber("c").Subscribe(ctx, "t")
	if b.Groups("t") != 2 {
		t.Fatalf("groups = %d", b.Groups("t"))
	}
	published := make(chan error, 1)
	go func() { published <- b.Publish("t", message.NewMessage(watermill.NewUUID(), []byte("x"))) }()
	ma := <-a
	mc := <-c
	ma.Ack()
	select {
	case err := <-published:
		t.Fatalf("Publish returned (%v) before every group acked", err)
	case <-time.After(20 * time.Millisecond):
	}
	mc.Nack()
	again := <-c // redelivered to the group that nacked
	if again.UUID != mc.UUID {
		t.Fatalf("redelivered %s, want %s", again.UUID, mc.UUID)
	}
	again.Ack()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

func TestStoppedSubscriberHandsItsMessageToTheGroup(t *testing.T) {
	b := New(nil)
	defer b.Close()
	ctx1, stop1 := context.WithCancel(context.Background())
	first, _ := b.Subscriber("g").Subscribe(ctx1, "t")
	published := make(chan error, 1)
	go func() { published <- b.Publish("t", message.NewMessage("m1", nil)) }()
	<-first // taken, never acked
	stop1()
	second, _ := b.Subscriber("g").Subscribe(context.Background(), "t")
	m := <-second
	if m.UUID != "m1" {
		t.Fatalf("got %s", m.UUID)
	}
	m.Ack()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsPublishAndSubscriptions(t *testing.T) {
	b := New(nil)
	ch, _ := b.Subscriber("g").Subscribe(context.Background(), "t")
	published := make(chan error, 1)
	go func() { published <- b.Publish("t", message.NewMessage("m1", nil)) }()
	<-ch
	b.Close()
	if err := <-published; !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	for range ch {
	}
	if _, err := b.Subscriber("g").Subscribe(context.Background(), "t"); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

func keyed(id, key string) *message.Message {
	m := message.NewMessage(id, nil)
	m.Metadata.Set("partition_key", key)
	return m
}

func TestStreamsAreInFlightTogetherEachInOrder(t *testing.T) {
	b := New(nil)
	defer b.Close()
	ch, _ := b.Subscriber("g").Subscribe(context.Background(), "t")
	published := b.PublishAsync("t", keyed("a1", "stream-a"), keyed("a2", "stream-a"), keyed("b1", "stream-b"))
	// Two streams: their first messages are both handed out before any ack.
	got := map[string]*message.Message{}
	for len(got) < 2 {
		m := <-ch
		got[m.UUID] = m
	}
	if got["a1"] == nil || got["b1"] == nil {
		t.Fatalf("in flight together: %v, want a1 and b1", got)
	}
	select {
	case m := <-ch:
		t.Fatalf("%s handed out before a1 was acked", m.UUID)
	case <-time.After(20 * time.Millisecond):
	}
	got["b1"].Ack()
	got["a1"].Ack()
	if m := <-ch; m.UUID != "a2" {
		t.Fatalf("got %s, want a2", m.UUID)
	} else {
		m.Ack()
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

func TestHandedBackMessagesKeepTheirOrder(t *testing.T) {
	b := New(nil)
	defer b.Close()
	ctx, stop := context.WithCancel(context.Background())
	first, _ := b.Subscriber("g").Subscribe(ctx, "t")
	b.PublishAsync("t", keyed("a1", "stream-a"), keyed("b1", "stream-b"), keyed("a2", "stream-a"), keyed("b2", "stream-b"))
	<-first
	<-first // a1 and b1 in flight, never acked
	stop()
	for range first {
	}
	second, _ := b.Subscriber("g").Subscribe(context.Background(), "t")
	var order []string
	for len(order) < 4 {
		m := <-second
		order = append(order, m.UUID)
		m.Ack()
	}
	pos := map[string]int{}
	for i, id := range order {
		pos[id] = i
	}
	if pos["a1"] > pos["a2"] || pos["b1"] > pos["b2"] {
		t.Fatalf("order after hand-back: %v", order)
	}
}

// A group leaves out the messages LeaveOut names: it never gets them and
// Publish does not wait for it; another group gets everything, and a
// message no group reads is published at once.
func TestAGroupLeavesMessagesOut(t *testing.T) {
	b := New(nil)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	picky := b.Subscriber("picky").(*Subscriber)
	if err := picky.LeaveOut("t", func(typ string) bool { return typ != "wanted" }); err != nil {
		t.Fatal(err)
	}
	p, _ := picky.Subscribe(ctx, "t")
	msg := func(id, typ string) *message.Message {
		m := message.NewMessage(id, nil)
		m.Metadata.Set(TypeKey, typ)
		return m
	}
	if err := b.Publish("t", msg("other-1", "other")); err != nil {
		t.Fatalf("a message only a leaving group is subscribed for: %v", err)
	}
	if b.Reads("t", "other") || !b.Reads("t", "wanted") || b.Reads("u", "wanted") {
		t.Fatal("Reads: only the picky group, for wanted messages of t")
	}
	all, _ := b.Subscriber("all").Subscribe(ctx, "t")
	if !b.Reads("t", "other") {
		t.Fatal("Reads: a group reading everything of t")
	}
	published := make(chan error, 1)
	go func() { published <- b.Publish("t", msg("other-2", "other"), msg("wanted-1", "wanted")) }()
	for _, want := range []string{"other-2", "wanted-1"} {
		m := <-all
		if m.UUID != want {
			t.Fatalf("the other group got %s, want %s", m.UUID, want)
		}
		m.Ack()
	}
	select {
	case err := <-published:
		t.Fatalf("Publish returned (%v) before the picky group acked what it reads", err)
	case <-time.After(20 * time.Millisecond):
	}
	m := <-p
	if m.UUID != "wanted-1" {
		t.Fatalf("the picky group got %s, want only wanted-1", m.UUID)
	}
	m.Ack()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-p:
		t.Fatalf("the picky group got %s too", m.UUID)
	case <-time.After(20 * time.Millisecond):
	}
}
