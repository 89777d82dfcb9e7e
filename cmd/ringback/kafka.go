package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/ringback/ringback/libs/bus/kafka"
)

// KafkaConfig is how ringback reaches and uses Kafka, beside
// --kafka-brokers: `serve --bus=kafka` and `poison` share it.
type KafkaConfig struct {
	Partitions  int
	MaxInFlight int

	TLS     bool
	TLSCA   string
	TLSCert string
	TLSKey  string

	SASLMechanism string
	SASLUser      string
	SASLPassword  string
}

// RegisterFlags registers the --kafka-… flags other than --kafka-brokers.
func (k *KafkaConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&k.Partitions, "kafka-partitions", kafka.DefaultPartitions,
		"partitions of the topics ringback creates (existing topics are left as they are; see the README to grow them): "+
			"the most replicas of one service that get work, since a partition has one consumer per group")
	fs.IntVar(&k.MaxInFlight, "kafka-max-in-flight", kafka.DefaultMaxInFlightPerPartition,
		"records of one partition handled at once, each stream (key) still one at a time and in order: "+
			"a slow stream then holds back only itself; 1 handles a partition strictly in order")
	fs.BoolVar(&k.TLS, "kafka-tls", false, "connect to the brokers over TLS (implied by --kafka-tls-ca and --kafka-tls-cert); the broker's name is always verified")
	fs.StringVar(&k.TLSCA, "kafka-tls-ca", "", "PEM file of the CA(s) that signed the brokers' certificates, added to the system roots (a private CA)")
	fs.StringVar(&k.TLSCert, "kafka-tls-cert", "", "PEM client certificate, for brokers that authenticate clients by certificate (with --kafka-tls-key)")
	fs.StringVar(&k.TLSKey, "kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	fs.StringVar(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL authentication: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: none. PLAIN sends the password as is: use it with --kafka-tls")
	fs.StringVar(&k.SASLUser, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&k.SASLPassword, "kafka-sasl-password", "", "SASL password; better given as RINGBACK_KAFKA_SASL_PASSWORD than on the command line, where ps shows it")
}

// Validate checks the values without touching files or the network.
func (k *KafkaConfig) Validate() error {
	if k.Partitions < 1 {
		return &usageError{fmt.Sprintf("--kafka-partitions: %d, want at least 1", k.Partitions)}
	}
	if k.MaxInFlight < 1 {
		return &usageError{fmt.Sprintf("--kafka-max-in-flight: %d, want at least 1", k.MaxInFlight)}
	}
	switch strings.ToUpper(k.SASLMechanism) {
	case "":
		if k.SASLUser != "" || k.SASLPassword != "" {
			return &usageError{"--kafka-sasl-user/--kafka-sasl-password without --kafka-sasl-mechanism"}
		}
	case kafka.SASLPlain, kafka.SASLSCRAMSHA256, kafka.SASLSCRAMSHA512:
		if k.SASLUser == "" {
			return &usageError{"--kafka-sasl-mechanism needs --kafka-sasl-user"}
		}
	default:
		return &usageError{fmt.Sprintf("--kafka-sasl-mechanism: %q is none of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", k.SASLMechanism)}
	}
	if (k.TLSCert == "") != (k.TLSKey == "") {
		return &usageError{"--kafka-tls-cert and --kafka-tls-key go together"}
	}
	return nil
}

// configs returns publisher and subscriber configurations for brokers, with
// TLS and SASL set up (reading the certificate files).
func (k *KafkaConfig) configs(brokers []string) (kafka.PublisherConfig, kafka.SubscriberConfig, error) {
	pub := kafka.PublisherConfig{Brokers: brokers, Partitions: k.Partitions}
	sub := kafka.SubscriberConfig{Brokers: brokers, Partitions: k.Partitions, MaxInFlightPerPartition: k.MaxInFlight}
	if k.TLS || k.TLSCA != "" || k.TLSCert != "" {
		tc, err := kafka.TLSConfig(k.TLSCA, k.TLSCert, k.TLSKey)
		if err != nil {
			return pub, sub, err
		}
		pub.TLS, sub.TLS = tc, tc
	}
	mech, err := kafka.SASLMechanism(k.SASLMechanism, k.SASLUser, k.SASLPassword)
	if err != nil {
		return pub, sub, fmt.Errorf("kafka: %w", err)
	}
	pub.SASL, sub.SASL = mech, mech
	return pub, sub, nil
}

// brokerList splits --kafka-brokers.
func brokerList(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
