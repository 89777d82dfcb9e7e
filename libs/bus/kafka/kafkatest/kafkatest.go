// Package kafkatest runs an in-process Kafka-protocol broker (franz-go's
// kfake) on loopback for tests of code that talks to Kafka over real TCP.
// Only tests and test binaries import it.
package kafkatest

import (
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// StartBroker starts a one-broker kfake cluster on 127.0.0.1 with a random
// port and returns its bootstrap addresses. The cluster is closed in
// t.Cleanup. Topics are not auto-created: the bus creates its own. opts
// add to the cluster's options (kfake.TLS, kfake.EnableSASL, ...).
func StartBroker(t testing.TB, opts ...kfake.Opt) (addrs []string) {
	t.Helper()
	c, err := NewCluster("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("start kfake broker: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// NewCluster starts a one-broker kfake cluster listening on addr
// (host:port, port 0 for a random one). The caller closes it.
func NewCluster(addr string, opts ...kfake.Opt) (*kfake.Cluster, error) {
	listen := func(network, _ string) (net.Listener, error) {
		// kfake would listen on 127.0.0.1 only; this honours addr's host.
		return net.Listen(network, addr)
	}
	return kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(listen)}, opts...)...)
}
