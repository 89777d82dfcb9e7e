package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

// roundTrip publishes one message and consumes it with the given security
// settings, through every connection the adapter makes: topic creation,
// produce, the consumer group, partition fetches and offset commits.
func roundTrip(t *testing.T, brokers []string, pubCfg kafka.PublisherConfig, subCfg kafka.SubscriberConfig) {
	t.Helper()
	pub, err := kafka.NewPublisher(pubCfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("secure", keyed("m1", "k")); err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(subCfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(context.Background(), "secure")
	if err != nil {
		t.Fatal(err)
	}
	m := receive(t, msgs)
	m.Ack()
	if m.UUID != "m1" {
		t.Fatalf("got %s", m.UUID)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	serverTLS, caFile := kafkatest.TLS(t)
	brokers := kafkatest.StartBroker(t, kfake.TLS(serverTLS))
	clientTLS, err := kafka.TLSConfig(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	subCfg := fastSubscriber(brokers, "tls")
	subCfg.TLS = clientTLS
	roundTrip(t, brokers, kafka.PublisherConfig{Brokers: brokers, TLS: clientTLS}, subCfg)

	// Without the CA the broker's certificate is refused.
	untrusted, err := kafka.TLSConfig("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, TLS: untrusted, PublishTimeout: time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// kafka-go reports it as "broker not available", not as the TLS error.
	if err := pub.Publish("secure", message.NewMessage("m2", nil)); err == nil {
		t.Fatal("publish to a broker with an untrusted certificate: want an error")
	}
}

func TestSASL(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLSCRAMSHA256, kafka.SASLSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			brokers := kafkatest.StartBroker(t, kfake.EnableSASL(), kfake.Superuser(mech, "ringback", "s3cret"))
			good, err := kafka.SASLMechanism(mech, "ringback", "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			subCfg := fastSubscriber(brokers, "sasl")
			subCfg.SASL = good
			roundTrip(t, brokers, kafka.PublisherConfig{Brokers: brokers, SASL: good}, subCfg)

			bad, err := kafka.SASLMechanism(mech, "ringback", "wrong")
			if err != nil {
				t.Fatal(err)
			}
			pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, SASL: bad, PublishTimeout: time.Second}, watermill.NopLogger{})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			if err := pub.Ping(context.Background()); err == nil {
				t.Fatal("ping with a wrong password: want an error")
			}
		})
	}
}

// TLS and SASL together, as managed clusters (SASL_SSL) want them.
func TestSASLOverTLS(t *testing.T) {
	t.Parallel()
	serverTLS, caFile := kafkatest.TLS(t)
	brokers := kafkatest.StartBroker(t, kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser(kafka.SASLSCRAMSHA512, "ringback", "s3cret"))
	clientTLS, err := kafka.TLSConfig(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	mech, err := kafka.SASLMechanism("scram-sha-512", "ringback", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	subCfg := fastSubscriber(brokers, "sasl-ssl")
	subCfg.TLS, subCfg.SASL = clientTLS, mech
	roundTrip(t, brokers, kafka.PublisherConfig{Brokers: brokers, TLS: clientTLS, SASL: mech}, subCfg)
}

func TestSASLMechanismErrors(t *testing.T) {
	if m, err := kafka.SASLMechanism("", "", ""); m != nil || err != nil {
		t.Errorf("no mechanism: %v, %v", m, err)
	}
	if _, err := kafka.SASLMechanism("GSSAPI", "u", "p"); err == nil {
		t.Error("GSSAPI: want an error")
	}
	if _, err := kafka.SASLMechanism(kafka.SASLPlain, "", "p"); err == nil {
		t.Error("no user: want an error")
	}
	if _, err := kafka.TLSConfig("/nonexistent/ca.pem", "", ""); err == nil {
		t.Error("missing CA file: want an error")
	}
	if _, err := kafka.TLSConfig("", "cert.pem", ""); err == nil {
		t.Error("certificate without key: want an error")
	}
}
