package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanism names, as Kafka's sasl.mechanism spells them.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// SASLMechanism returns the kafka-go mechanism named name (PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512, case-insensitive) for user and password.
// An empty name is no SASL: nil, nil.
//
// PLAIN sends the password as it is: use it only over TLS. SCRAM proves
// knowledge of the password without sending it, and is what managed
// clusters (MSK, Confluent Cloud, Aiven) usually offer.
func SASLMechanism(name, user, password string) (sasl.Mechanism, error) {
	if name == "" {
		return nil, nil
	}
	if user == "" {
		return nil, fmt.Errorf("sasl %s: no user", name)
	}
	switch strings.ToUpper(name) {
	case SASLPlain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case SASLSCRAMSHA256, SASLSCRAMSHA512:
		algo := scram.SHA256
		if strings.ToUpper(name) == SASLSCRAMSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, user, password)
		if err != nil {
			return nil, fmt.Errorf("sasl %s: %w", name, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("sasl: unknown mechanism %q (want %s, %s or %s)", name, SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512)
}

// TLSConfig returns a client TLS configuration: the system roots plus the
// PEM certificates in caFile when it is set (a private CA, as self-managed
// clusters use), and the client certificate in certFile and keyFile when
// both are set (brokers that authenticate clients by certificate, mTLS).
// Server names are verified; there is deliberately no way to skip that.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls ca %s: no PEM certificate found", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("kafka tls: client certificate and key go together (got cert %q, key %q)", certFile, keyFile)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
