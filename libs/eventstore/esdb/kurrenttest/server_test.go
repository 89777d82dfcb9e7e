package kurrenttest_test

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ringback/ringback/libs/eventstore/esdb/kurrenttest"
)

// These tests hold the harness to what KurrentDB answers, through the
// client library where it exposes the answer and through raw gRPC where
// the library hides it.

func client(t *testing.T, srv *kurrenttest.Server) *kurrent.Client {
	t.Helper()
	conf, err := kurrent.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = kurrent.NoopLogging()
	c, err := kurrent.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func raw(t *testing.T, srv *kurrenttest.Server) api.StreamsClient {
	t.Helper()
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return api.NewStreamsClient(cc)
}

func events(n int) []kurrent.EventData {
	out := make([]kurrent.EventData, n)
	for i := range out {
		out[i] = kurrent.EventData{EventID: uuid.New(), EventType: "test.Event", ContentType: kurrent.ContentTypeBinary, Data: []byte{byte(i)}}
	}
	return out
}

// drain returns a read's events, failing t on an error.
func drain(t *testing.T) func(*kurrent.ReadStream, error) []*kurrent.RecordedEvent {
	return func(rs *kurrent.ReadStream, err error) []*kurrent.RecordedEvent {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []*kurrent.RecordedEvent
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.OriginalEvent())
		}
	}
}

func revisions(evs []*kurrent.RecordedEvent) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.EventNumber)
	}
	return out
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadStream(t *testing.T) {
	srv := kurrenttest.Start(t)
	c := client(t, srv)
	ctx := t.Context()
	stream := "read-" + uuid.NewString()
	if _, err := c.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, events(5)...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  kurrent.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"forwards from start", kurrent.ReadStreamOptions{}, 100, []uint64{0, 1, 2, 3, 4}},
		{"forwards from 2, count 2", kurrent.ReadStreamOptions{From: kurrent.Revision(2)}, 2, []uint64{2, 3}},
		{"forwards past the end", kurrent.ReadStreamOptions{From: kurrent.Revision(9)}, 10, nil},
		{"forwards from the end", kurrent.ReadStreamOptions{From: kurrent.End{}}, 10, nil},
		{"backwards from the end, count 2", kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 2, []uint64{4, 3}},
		{"backwards from 1", kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.Revision(1)}, 10, []uint64{1, 0}},
		{"backwards from past the end", kurrent.ReadStreamOptions{Direction: kurrent.Backwards, From: kurrent.Revision(50)}, 1, []uint64{4}},
	} {
		rs, err := c.ReadStream(ctx, stream, tc.opts, tc.count)
		if got := revisions(drain(t)(rs, err)); !equal(got, tc.want) {
			t.Errorf("%s: revisions %v, want %v", tc.name, got, tc.want)
		}
	}

	rs, err := c.ReadStream(ctx, "missing-"+uuid.NewString(), kurrent.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rs.Recv()
	if e, _ := kurrent.FromError(err); err == nil || e.Code() != kurrent.ErrorCodeResourceNotFound {
		t.Errorf("read of a missing stream: %v, want ResourceNotFound", err)
	}

	// Metadata: $maxCount and $tb hide older events.
	var meta kurrent.StreamMetadata
	meta.SetMaxCount(3)
	meta.SetTruncateBefore(3)
	if _, err := c.SetStreamMetadata(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, meta); err != nil {
		t.Fatal(err)
	}
	rs, err = c.ReadStream(ctx, stream, kurrent.ReadStreamOptions{}, 100)
	if got := revisions(drain(t)(rs, err)); !equal(got, []uint64{3, 4}) {
		t.Errorf("with $maxCount 3 and $tb 3: revisions %v, want [3 4]", got)
	}
	got, err := c.GetStreamMetadata(ctx, stream, kurrent.ReadStreamOptions{})
	if err != nil || got.MaxCount() == nil || *got.MaxCount() != 3 {
		t.Errorf("GetStreamMetadata = %+v, %v", got, err)
	}
}

func TestAppend(t *testing.T) {
	srv := kurrenttest.Start(t)
	c := client(t, srv)
	ctx := t.Context()
	stream := "append-" + uuid.NewString()
	evs := events(3)
	first, err := c.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, evs[:2]...)
	if err != nil {
		t.Fatal(err)
	}
	if first.NextExpectedVersion != 1 || first.CommitPosition == 0 || first.CommitPosition != first.PreparePosition {
		t.Errorf("first append: %+v", first)
	}
	again, err := c.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, evs[:2]...)
	if err != nil || *again != *first {
		t.Errorf("idempotent replay = %+v, %v; want %+v", again, err, first)
	}
	stored := drain(t)(c.ReadStream(ctx, stream, kurrent.ReadStreamOptions{}, 10))
	if len(stored) != 2 || stored[1].Position.Commit != first.CommitPosition || stored[0].Position.Commit >= stored[1].Position.Commit {
		t.Errorf("stored %+v; the append answered the last event's position %d", stored, first.CommitPosition)
	}
	if stored[1].Position.Commit-stored[0].Position.Commit == 1 {
		t.Errorf("positions %d, %d are dense; log positions are not", stored[0].Position.Commit, stored[1].Position.Commit)
	}
	if stored[0].CreatedDate.IsZero() || time.Since(stored[0].CreatedDate) > time.Minute {
		t.Errorf("created %v", stored[0].CreatedDate)
	}
	if _, err := c.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Any{}}, evs[2]); err != nil {
		t.Errorf("append with any: %v", err)
	}
	_, err = c.AppendToStream(ctx, "missing-"+uuid.NewString(), kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.StreamExists{}}, events(1)...)
	if e, _ := kurrent.FromError(err); err == nil || e.Code() != kurrent.ErrorCodeWrongExpectedVersion {
		t.Errorf("stream_exists on a missing stream: %v", err)
	}
}

// TestWrongExpectedVersionOnTheWire checks the answer field by field, as
// KurrentDB fills it: the current fields and the 20.6.0 ones.
func TestWrongExpectedVersionOnTheWire(t *testing.T) {
	srv := kurrenttest.Start(t)
	r := raw(t, srv)
	ctx := t.Context()
	stream := "wev-" + uuid.NewString()
	if res := rawAppend(t, ctx, r, stream, &api.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}); res.GetSuccess() == nil {
		t.Fatalf("first append: %v", res)
	}

	w := rawAppend(t, ctx, r, stream, &api.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}).GetWrongExpectedVersion()
	if w == nil || w.GetExpectedNoStream() == nil || w.GetExpectedRevision_20_6_0() != math.MaxUint64 ||
		w.GetCurrentNoStream() != nil || w.GetCurrentRevision() != 0 ||
		w.GetCurrentRevisionOption_20_6_0() == nil || w.GetCurrentRevision_20_6_0() != 0 {
		t.Errorf("no_stream on a stream at 0: %v", w)
	}
	w = rawAppend(t, ctx, r, "missing-"+uuid.NewString(), &api.AppendReq_Options_Revision{Revision: 4}).GetWrongExpectedVersion()
	if w == nil || w.GetExpectedRevision() != 4 || w.GetExpectedRevision_20_6_0() != 4 ||
		w.GetCurrentNoStream() == nil || w.GetNoStream_20_6_0() == nil {
		t.Errorf("revision 4 on a missing stream: %v", w)
	}
	w = rawAppend(t, ctx, r, stream, &api.AppendReq_Options_Revision{Revision: 7}).GetWrongExpectedVersion()
	if w == nil || w.GetExpectedRevision() != 7 || w.GetCurrentRevision() != 0 || w.GetCurrentRevisionOption() == nil {
		t.Errorf("revision 7 on a stream at 0: %v", w)
	}
}

func rawAppend(t *testing.T, ctx context.Context, r api.StreamsClient, stream string, expected any) *api.AppendResp {
	t.Helper()
	a, err := r.Append(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opts := &api.AppendReq_Options{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)}}
	switch e := expected.(type) {
	case *api.AppendReq_Options_NoStream:
		opts.ExpectedStreamRevision = e
	case *api.AppendReq_Options_Revision:
		opts.ExpectedStreamRevision = e
	}
	if err := a.Send(&api.AppendReq{Content: &api.AppendReq_Options_{Options: opts}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(&api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: &api.AppendReq_ProposedMessage{
		Id:       &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}},
		Metadata: map[string]string{"type": "test.Raw", "content-type": "application/octet-stream"},
		Data:     []byte("raw"),
	}}}); err != nil {
		t.Fatal(err)
	}
	res, err := a.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAppendLimits(t *testing.T) {
	srv := kurrenttest.Start(t, kurrenttest.WithMaxAppendSize(100))
	r := raw(t, srv)
	a, err := r.Append(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	send(t, a, &api.AppendReq{Content: &api.AppendReq_Options_{Options: &api.AppendReq_Options{
		StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte("big")},
		ExpectedStreamRevision: &api.AppendReq_Options_NoStream{NoStream: &shared.Empty{}},
	}}})
	send(t, a, &api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: &api.AppendReq_ProposedMessage{
		Id:       &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}},
		Metadata: map[string]string{"type": "test.Big", "content-type": "application/octet-stream"},
		Data:     make([]byte, 101),
	}}})
	_, err = a.CloseAndRecv()
	if status.Code(err) != codes.InvalidArgument || a.Trailer().Get("exception")[0] != "maximum-append-size-exceeded" {
		t.Errorf("append above the limit: %v, trailer %v", err, a.Trailer())
	}

	a, _ = r.Append(t.Context())
	send(t, a, &api.AppendReq{Content: &api.AppendReq_Options_{Options: &api.AppendReq_Options{
		StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte("untyped")},
		ExpectedStreamRevision: &api.AppendReq_Options_NoStream{NoStream: &shared.Empty{}},
	}}})
	send(t, a, &api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: &api.AppendReq_ProposedMessage{
		Id: &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}},
	}}})
	if _, err = a.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("append without a type: %v", err)
	}
	_, err = r.Delete(t.Context(), &api.DeleteReq{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Delete: %v, want Unimplemented", err)
	}
}

// TestStringUUIDs: a client asking for string ids gets them.
func TestStringUUIDs(t *testing.T) {
	srv := kurrenttest.Start(t)
	c := client(t, srv)
	stream := "uuid-" + uuid.NewString()
	ev := events(1)[0]
	if _, err := c.AppendToStream(t.Context(), stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, ev); err != nil {
		t.Fatal(err)
	}
	rc, err := raw(t, srv).Read(t.Context(), &api.ReadReq{Options: &api.ReadReq_Options{
		StreamOption: &api.ReadReq_Options_Stream{Stream: &api.ReadReq_Options_StreamOptions{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)},
			RevisionOption:   &api.ReadReq_Options_StreamOptions_Start{Start: &shared.Empty{}},
		}},
		CountOption:  &api.ReadReq_Options_Count{Count: 1},
		FilterOption: &api.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:   &api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := m.GetEvent().GetEvent().GetId().GetString_(); got != ev.EventID.String() {
		t.Errorf("id %q, want %q", got, ev.EventID)
	}
}

func TestReadAll(t *testing.T) {
	srv := kurrenttest.Start(t)
	c := client(t, srv)
	ctx := t.Context()
	stream := "all-" + uuid.NewString()
	if _, err := c.AppendToStream(ctx, stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, events(4)...); err != nil {
		t.Fatal(err)
	}
	fwd := drain(t)(c.ReadAll(ctx, kurrent.ReadAllOptions{}, 10))
	if got := revisions(fwd); !equal(got, []uint64{0, 1, 2, 3}) {
		t.Fatalf("forwards from the start: %v", got)
	}
	if got := revisions(drain(t)(c.ReadAll(ctx, kurrent.ReadAllOptions{Direction: kurrent.Backwards, From: kurrent.End{}}, 3))); !equal(got, []uint64{3, 2, 1}) {
		t.Errorf("backwards from the end: %v", got)
	}
	// Backwards from an event's position excludes it, forwards includes it.
	at := fwd[2].Position
	if got := revisions(drain(t)(c.ReadAll(ctx, kurrent.ReadAllOptions{Direction: kurrent.Backwards, From: at}, 10))); !equal(got, []uint64{1, 0}) {
		t.Errorf("backwards from %v: %v", at, got)
	}
	if got := revisions(drain(t)(c.ReadAll(ctx, kurrent.ReadAllOptions{From: at}, 10))); !equal(got, []uint64{2, 3}) {
		t.Errorf("forwards from %v: %v", at, got)
	}
}

// TestSubscribeToAll: confirmation, catch-up, checkpoints, caught-up, live,
// the filter, and a start position that is exclusive.
func TestSubscribeToAll(t *testing.T) {
	srv := kurrenttest.Start(t)
	c := client(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	mine, other := "sub-"+uuid.NewString(), "other-"+uuid.NewString()
	for _, s := range []string{mine, other} {
		if _, err := c.AppendToStream(ctx, s, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, events(3)...); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{
		From:            kurrent.Start{},
		Filter:          &kurrent.SubscriptionFilter{Type: kurrent.StreamFilterType, Prefixes: []string{"sub-"}},
		MaxSearchWindow: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got []uint64
	checkpoints, caughtUp := 0, false
	var first kurrent.Position
	for !caughtUp {
		m := sub.Recv()
		switch {
		case m.SubscriptionDropped != nil:
			t.Fatalf("dropped: %v", m.SubscriptionDropped.Error)
		case m.EventAppeared != nil:
			e := m.EventAppeared.OriginalEvent()
			if !strings.HasPrefix(e.StreamID, "sub-") {
				t.Errorf("filter let %s through", e.StreamID)
			}
			if len(got) == 0 {
				first = e.Position
			}
			got = append(got, e.EventNumber)
		case m.CheckPointReached != nil:
			checkpoints++
		case m.CaughtUp != nil:
			caughtUp = true
		}
	}
	if !equal(got, []uint64{0, 1, 2}) || checkpoints < 2 {
		t.Errorf("catch-up: revisions %v and %d checkpoints; want [0 1 2] and one per 2 events considered", got, checkpoints)
	}
	if _, err := c.AppendToStream(ctx, mine, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Revision(2)}, events(1)...); err != nil {
		t.Fatal(err)
	}
	for {
		m := sub.Recv()
		if m.SubscriptionDropped != nil {
			t.Fatalf("dropped: %v", m.SubscriptionDropped.Error)
		}
		if m.EventAppeared != nil {
			if n := m.EventAppeared.OriginalEvent().EventNumber; n != 3 {
				t.Errorf("live event revision %d, want 3", n)
			}
			break
		}
	}

	from, err := c.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{From: first})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	for {
		m := from.Recv()
		if m.SubscriptionDropped != nil {
			t.Fatalf("dropped: %v", m.SubscriptionDropped.Error)
		}
		if m.EventAppeared != nil {
			if p := m.EventAppeared.OriginalEvent().Position; p.Commit <= first.Commit {
				t.Errorf("subscription from %v delivered %v first", first, p)
			}
			break
		}
	}

	end, err := c.SubscribeToAll(ctx, kurrent.SubscribeToAllOptions{From: kurrent.End{}})
	if err != nil {
		t.Fatal(err)
	}
	defer end.Close()
	if m := end.Recv(); m.CaughtUp == nil {
		t.Errorf("subscription from the end: first message %+v, want caught up", m)
	}
}

// TestRestartKeepsEvents: a harness reopened on the directory of a closed
// one serves its streams again.
func TestRestartKeepsEvents(t *testing.T) {
	dir := t.TempDir()
	srv, err := kurrenttest.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	stream := "restart-" + uuid.NewString()
	c := client(t, srv)
	if _, err := c.AppendToStream(t.Context(), stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, events(2)...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err = kurrenttest.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c = client(t, srv)
	if got := revisions(drain(t)(c.ReadStream(t.Context(), stream, kurrent.ReadStreamOptions{}, 10))); !equal(got, []uint64{0, 1}) {
		t.Errorf("after a restart: revisions %v", got)
	}
	if _, err := c.AppendToStream(t.Context(), stream, kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.Revision(1)}, events(1)...); err != nil {
		t.Errorf("append at revision 1 after a restart: %v", err)
	}
}

// TestGossip: a client that discovers the cluster through gossip finds the
// harness as its leader.
func TestGossip(t *testing.T) {
	srv := kurrenttest.Start(t)
	conf, err := kurrent.ParseConnectionString("esdb+discover://" + srv.Addr() + "?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = kurrent.NoopLogging()
	c, err := kurrent.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AppendToStream(t.Context(), "gossip-"+uuid.NewString(), kurrent.AppendToStreamOptions{ExpectedRevision: kurrent.NoStream{}}, events(1)...); err != nil {
		t.Fatalf("append through gossip discovery: %v", err)
	}
	v, err := c.GetServerVersion()
	if err != nil || v.Major != 25 {
		t.Errorf("server version %+v, %v", v, err)
	}
}

// send sends one request on an append stream; a send error fails the test.
func send(t *testing.T, a api.Streams_AppendClient, req *api.AppendReq) {
	t.Helper()
	if err := a.Send(req); err != nil {
		t.Fatalf("send: %v", err)
	}
}
