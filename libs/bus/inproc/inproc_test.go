package inproc

import (
	"context"
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
	case <-published:
		t.Fatal("Publish returned before every group acked")
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
	if err := <-published; err != ErrClosed {
		t.Fatalf("publish after close: %v", err)
	}
	for range ch {
	}
	if _, err := b.Subscriber("g").Subscribe(context.Background(), "t"); err != ErrClosed {
		t.Fatalf("subscribe after close: %v", err)
	}
}
