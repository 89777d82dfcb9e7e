// Package kurrenttest is a TEST HARNESS ONLY: an in-process server that
// speaks as much of KurrentDB's (EventStoreDB's) gRPC API as the official Go
// client (EventStore-Client-Go v4) needs for the esdb adapter, so that the
// adapter's tests drive the real client over real TCP in every `go test`. It
// is not a server to run in production, not a KurrentDB emulator, and makes
// no promise beyond a test's life: its store is a test's temporary
// directory.
//
// It implements the server interfaces generated from the client's own
// protos (the Streams, ServerFeatures and Gossip services of
// github.com/EventStore/EventStore-Client-Go/v4/protos) on the embedded
// event store. What it implements, answering the way KurrentDB 24/25 does on
// the wire (checked against the server's source, Streams.Append.cs,
// Streams.Read.cs, the subscription enumerators and IndexWriter.CheckCommit):
//
//   - ServerFeatures.GetSupportedMethods: what the client asks on connect.
//   - Gossip.Read: one live leader, itself (for esdb+discover:// and
//     connection strings with several hosts).
//   - Streams.Append with an expected revision or no_stream: idempotency by
//     event id (KurrentDB's rule: the same ids right after the expected
//     revision are the same append again, answered with the original
//     position), wrong_expected_version answered with both the current and
//     the 20.6.0 fields set exactly as the server sets them, the maximum
//     append size (1 MiB by default) with its "exception" trailer, the
//     required "type" and "content-type" properties. "any" and
//     "stream_exists" are accepted but without KurrentDB's idempotency for
//     them.
//   - Streams.Read of one stream: forwards and backwards, from a revision,
//     the start or the end, with a count; stream_not_found for a stream that
//     does not exist; structured or string UUIDs; $maxCount and $tb of the
//     stream's metadata ($$stream) hide older events as the server does.
//   - Streams.Read of $all with a count, without a filter: forwards (from a
//     position: the event there included) and backwards (excluded).
//   - Streams.Read of $all as a subscription: confirmation, catch-up then
//     live, from the start, the end or (exclusively) a position, with the
//     event-type or stream-name filter (regex or prefixes), a checkpoint
//     every max-search-window × multiplier considered events and when
//     catching up ends, then caught_up.
//
// Positions are commit == prepare, 64 times the embedded store's sequence
// number: like the server's log offsets they increase but are not dense, so
// code that assumes position+1 is the next event fails here too. An append
// answers the position of its last event, as the server does.
//
// Listen on the directory of a closed harness serves its events again, on
// the same address with WithAddr: a restarted server.
//
// What it does not implement: TLS and authentication (use tls=false; any
// credentials are ignored), filtered reads of $all with a count,
// subscriptions to one stream, links and resolve_links, $maxAge, Delete,
// Tombstone, BatchAppend, persistent subscriptions, projections, users,
// operations, ACLs, leader redirects, system events of its own. Those answer
// codes.Unimplemented or are absent. Unlike KurrentDB it refuses an append
// with no events or with the same id twice, and treats known ids appended
// at the current revision as a conflict rather than writing them again.
package kurrenttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/eventstore/embedded"
)

// Version is the server version the harness reports to the client.
const Version = "25.0.0"

// DefaultMaxAppendSize is KurrentDB's default limit on one append (the sum
// of its events' sizes).
const DefaultMaxAppendSize = 1 << 20

// Server is a running harness. Use Start or Listen; its methods are safe for
// concurrent use.
type Server struct {
	store         *embedded.Store
	lis           net.Listener
	grpc          *grpc.Server
	served        chan error // Serve's result, once it returns
	maxAppendSize int
	addr          string
	wrap          func(net.Listener) net.Listener
	closeOnce     sync.Once
	closeErr      error

	// The harness is its store's only writer, so it knows every stream's
	// last revision and the last sequence number without asking the store.
	mu   sync.Mutex
	last map[string]uint64 // stream -> last revision
	head uint64            // sequence number of the last event appended
}

// Option configures Listen.
type Option func(*Server)

// WithAddr sets the address to listen on (default 127.0.0.1:0, a free
// port), for a test that restarts a server where its clients expect it.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithListener wraps the harness's listener, for a test that shows its
// clients a server as a fault would (every byte held for a while: a stall,
// a partition), with the address the harness advertises unchanged.
func WithListener(wrap func(net.Listener) net.Listener) Option {
	return func(s *Server) { s.wrap = wrap }
}

// WithMaxAppendSize sets the largest append accepted, in bytes (default
// DefaultMaxAppendSize).
func WithMaxAppendSize(n int) Option { return func(s *Server) { s.maxAppendSize = n } }

// Start starts a harness on 127.0.0.1 with its store in a temporary
// directory of t, and stops it at t's cleanup. Clients must be closed
// before: register their cleanups after calling Start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Listen(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("kurrenttest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("kurrenttest: %v", err)
		}
	})
	return s
}

// Listen starts a harness on a free port of 127.0.0.1 with its store in
// dir: a new directory, or one a closed harness left, whose events it
// serves again (a restarted server). Close stops it.
func Listen(dir string, opts ...Option) (*Server, error) {
	s := &Server{
		served:        make(chan error, 1),
		maxAppendSize: DefaultMaxAppendSize,
		addr:          "127.0.0.1:0",
		last:          make(map[string]uint64),
	}
	for _, o := range opts {
		o(s)
	}
	store, err := embedded.Open(dir)
	if err != nil {
		return nil, err
	}
	s.store = store
	if err := s.index(); err != nil {
		store.Close()
		return nil, err
	}
	s.lis, err = net.Listen("tcp", s.addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	serving := s.lis
	if s.wrap != nil {
		serving = s.wrap(s.lis)
	}
	// WaitForHandlers: Stop returns only once every handler has, so no
	// subscription goroutine outlives Close.
	// KurrentDB answers its clients' keepalive pings (every 10 s unless
	// told otherwise, while a call is open); grpc-go's default policy
	// would end such a client's connection as pinging too often.
	s.grpc = grpc.NewServer(grpc.WaitForHandlers(true),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	api.RegisterStreamsServer(s.grpc, &streams{s: s})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, &features{})
	gossip.RegisterGossipServer(s.grpc, &gossipServer{s: s})
	go func() { s.served <- s.grpc.Serve(serving) }()
	return s, nil
}

// Addr is the host:port the harness listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL is the connection string of the harness for the esdb client:
// esdb://127.0.0.1:PORT?tls=false.
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Close stops the server: open calls end with codes.Unavailable or
// Canceled on the client's side, and Close waits for every handler before
// closing the store. Closing again returns nil.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.grpc.Stop()
		err := <-s.served
		if errors.Is(err, grpc.ErrServerStopped) {
			err = nil
		}
		s.closeErr = errors.Join(err, s.store.Close())
	})
	return s.closeErr
}

// index learns the streams and the head of a store reopened after a
// restart.
func (s *Server) index() error {
	head, err := s.store.Head(context.Background())
	if err != nil || head.Commit == 0 {
		return err
	}
	err = s.store.SubscribeAll(context.Background(), eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		s.appended(e.Stream, e.Revision, e.Position.Commit)
		if e.Position.Commit >= head.Commit {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		return fmt.Errorf("index the store: %w", err)
	}
	return nil
}

// lastRevision is the last revision of stream, and whether it exists.
func (s *Server) lastRevision(stream string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.last[stream]
	return r, ok
}

// headSeq is the sequence number of the last event appended.
func (s *Server) headSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head
}

// appended records an append's outcome before it is answered, so a read
// that follows the answer sees it.
func (s *Server) appended(stream string, last uint64, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.last[stream]; !ok || last > r {
		s.last[stream] = last
	}
	s.head = max(s.head, seq)
}

// features answers the client's first question after connecting.
type features struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (*features) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	// Method and service names in lower case, as KurrentDB lists them. No
	// batchappend: the client then appends with Streams.Append.
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: Version,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: "event_store.client.streams.streams", MethodName: "read", Features: []string{"position", "events"}},
			{ServiceName: "event_store.client.streams.streams", MethodName: "append"},
			{ServiceName: "event_store.client.gossip.gossip", MethodName: "read"},
			{ServiceName: "event_store.client.serverfeatures.serverfeatures", MethodName: "getsupportedmethods"},
		},
	}, nil
}

// gossipServer describes a cluster of one: this node, the leader.
type gossipServer struct {
	gossip.UnimplementedGossipServer
	s *Server
}

func (g *gossipServer) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	addr := g.s.lis.Addr().(*net.TCPAddr)
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   &shared.UUID{Value: &shared.UUID_String_{String_: "00000000-0000-0000-0000-000000000001"}},
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: addr.IP.String(), Port: uint32(addr.Port)},
	}}}, nil
}
