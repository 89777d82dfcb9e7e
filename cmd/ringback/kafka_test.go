package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

func TestKafkaFlagsValidated(t *testing.T) {
	for _, args := range [][]string{
		{"--kafka-partitions", "0"},
		{"--kafka-max-in-flight", "0"},
		{"--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u"},
		{"--kafka-sasl-mechanism", "PLAIN"},
		{"--kafka-sasl-user", "u"},
		{"--kafka-tls-cert", "c.pem"},
	} {
		args = append([]string{"serve", "--bus", "kafka", "--allow-embedded-with-kafka", "--target", "router"}, args...)
		var out bytes.Buffer
		err := run(context.Background(), args, noEnv, &out, &out)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	cfg, err := parse([]string{"--kafka-partitions", "12", "--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-user", "ringback"},
		func(k string) string {
			if k == "RINGBACK_KAFKA_SASL_PASSWORD" {
				return "from-env"
			}
			return ""
		}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Partitions != 12 || cfg.Kafka.SASLPassword != "from-env" || cfg.Kafka.MaxInFlight != 32 {
		t.Fatalf("kafka config %+v", cfg.Kafka)
	}
	pub, sub, err := cfg.Kafka.configs([]string{"b:9092"})
	if err != nil {
		t.Fatal(err)
	}
	if pub.Partitions != 12 || sub.Partitions != 12 || pub.SASL == nil || sub.SASL == nil || pub.TLS != nil {
		t.Fatalf("publisher %+v subscriber %+v", pub, sub)
	}
}

// The flags reach a broker that wants TLS and SCRAM, as a managed cluster
// does; without them it is not reachable.
func TestKafkaFlagsReachSecureBroker(t *testing.T) {
	brokers, caFile := kafkatest.StartSecureBroker(t, "SCRAM-SHA-256", "ringback", "s3cret")
	env := map[string]string{"RINGBACK_KAFKA_SASL_PASSWORD": "s3cret"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"poison", "list", "--kafka-brokers", brokers[0], "--kafka-tls-ca", caFile,
		"--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-user", "ringback"}, func(k string) string { return env[k] }, &out, &out)
	if err != nil || !strings.Contains(out.String(), "0 poisoned message(s)") {
		t.Fatalf("list over TLS and SCRAM: %v\n%s", err, out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := run(ctx, []string{"poison", "list", "--kafka-brokers", brokers[0], "--kafka-tls-ca", caFile}, noEnv, &out, &out); err == nil {
		t.Fatal("list without SASL: want an error")
	}
}
