package kurrenttest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ringback/ringback/libs/eventstore"
)

// Keys of the embedded store's metadata map under which the harness keeps
// what KurrentDB stores beside an event.
const (
	metaJSON   = "$is-json"         // "true" when content-type was application/json
	metaCustom = "$custom-metadata" // the proposed message's custom_metadata bytes
)

// positionStride turns the embedded store's sequence numbers into
// KurrentDB-like log positions: increasing, never dense.
const positionStride = 64

func position(seq uint64) uint64 { return seq * positionStride }

// sequence is the last sequence number at or before log position p.
func sequence(p uint64) uint64 { return p / positionStride }

// readBatchSize is KurrentDB's default max search window of a filtered
// subscription when the client asks for none.
const readBatchSize = 32

// streams implements the Streams service.
type streams struct {
	api.UnimplementedStreamsServer
	s *Server
}

// Append implements Streams.Append: the first message carries the options,
// the following ones the events; the answer is a success or a
// wrong_expected_version result (not a gRPC error), as KurrentDB sends it.
func (st *streams) Append(srv api.Streams_AppendServer) error {
	ctx := srv.Context()
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return status.Error(codes.InvalidArgument, "empty stream name")
	}
	var events []eventstore.EventData
	size := 0
	for {
		m, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := m.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "append messages after the first must carry an event")
		}
		e, n, err := proposed(pm)
		if err != nil {
			return err
		}
		if size += n; size > st.s.maxAppendSize {
			// As KurrentDB: InvalidArgument, and what went wrong in the trailer.
			_ = grpc.SetTrailer(ctx, metadata.Pairs(
				"exception", "maximum-append-size-exceeded",
				"maximum-append-size", strconv.Itoa(st.s.maxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", st.s.maxAppendSize)
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		return status.Error(codes.InvalidArgument, "kurrenttest: an append without events is not implemented")
	}

	var res eventstore.AppendResult
	switch want := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		if want.Revision > math.MaxInt64 {
			return status.Errorf(codes.InvalidArgument, "expected revision %d out of range", want.Revision)
		}
		res, err = st.s.store.Append(ctx, stream, eventstore.Exactly(want.Revision), events...)
	case *api.AppendReq_Options_NoStream:
		res, err = st.s.store.Append(ctx, stream, eventstore.NoStream, events...)
	case *api.AppendReq_Options_Any:
		res, err = st.appendAtCurrent(ctx, stream, false, events)
	case *api.AppendReq_Options_StreamExists:
		res, err = st.appendAtCurrent(ctx, stream, true, events)
	default:
		return status.Error(codes.InvalidArgument, "no expected stream revision")
	}
	var conflict *eventstore.ConflictError
	switch {
	case errors.As(err, &conflict):
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(opts, conflict.Actual),
		}})
	case err != nil:
		return storeError(ctx, err)
	}
	st.s.appended(stream, uint64(res.NextExpected), res.Position.Commit)
	p := position(res.Position.Commit)
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.NextExpected)},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: p, PreparePosition: p,
		}},
	}}})
}

// appendAtCurrent appends at whatever the stream's revision is ("any", or
// "stream_exists" when mustExist), retrying when another append wins.
func (st *streams) appendAtCurrent(ctx context.Context, stream string, mustExist bool, events []eventstore.EventData) (eventstore.AppendResult, error) {
	for {
		expected := eventstore.NoStream
		last, ok := st.s.lastRevision(stream)
		if ok {
			expected = eventstore.Exactly(last)
		} else if mustExist {
			return eventstore.AppendResult{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: eventstore.NoStream}
		}
		res, err := st.s.store.Append(ctx, stream, expected, events...)
		if errors.Is(err, eventstore.ErrConflict) {
			continue
		}
		return res, err
	}
}

// proposed converts one proposed message, checking it as KurrentDB does,
// and returns its size as counted against the maximum append size.
func proposed(pm *api.AppendReq_ProposedMessage) (eventstore.EventData, int, error) {
	id, err := fromUUID(pm.GetId())
	if err != nil {
		return eventstore.EventData{}, 0, status.Errorf(codes.InvalidArgument, "event id: %v", err)
	}
	typ, ok := pm.GetMetadata()["type"]
	if !ok {
		return eventstore.EventData{}, 0, missingMetadata("type")
	}
	contentType, ok := pm.GetMetadata()["content-type"]
	if !ok {
		return eventstore.EventData{}, 0, missingMetadata("content-type")
	}
	e := eventstore.EventData{ID: id.String(), Type: typ, Data: pm.GetData(), Metadata: map[string]string{}}
	if contentType == "application/json" {
		e.Metadata[metaJSON] = "true"
	}
	if len(pm.GetCustomMetadata()) > 0 {
		e.Metadata[metaCustom] = string(pm.GetCustomMetadata())
	}
	return e, len(pm.GetData()) + len(pm.GetCustomMetadata()) + len(typ), nil
}

func missingMetadata(key string) error {
	return status.Errorf(codes.InvalidArgument, "Required Metadata Property '%s' is missing", key)
}

// wrongExpectedVersion builds the answer KurrentDB gives to a failed
// expectation: the current fields and the 20.6.0 ones, both filled.
func wrongExpectedVersion(opts *api.AppendReq_Options, actual eventstore.ExpectedRevision) *api.AppendResp_WrongExpectedVersion {
	w := &api.AppendResp_WrongExpectedVersion{}
	switch want := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Any:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case *api.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	case *api.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: math.MaxUint64}
	case *api.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: want.Revision}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: want.Revision}
	}
	if actual == eventstore.NoStream {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(actual)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(actual)}
	}
	return w
}

// storeError turns an error of the embedded store into a gRPC status.
func storeError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, eventstore.ErrClosed):
		return status.Error(codes.Unavailable, "server is shutting down")
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// Read implements Streams.Read for the combinations the harness serves.
func (st *streams) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "`options` is a required argument")
	}
	if o.GetUuidOption() == nil {
		return status.Error(codes.InvalidArgument, "`uuidOption` is a required argument")
	}
	_, counted := o.GetCountOption().(*api.ReadReq_Options_Count)
	switch {
	case o.GetStream() != nil && counted && o.GetFilter() == nil:
		return st.readStream(o, srv)
	case o.GetAll() != nil && counted && o.GetFilter() == nil:
		return st.readAll(o, srv)
	case o.GetAll() != nil && o.GetSubscription() != nil && o.GetReadDirection() == api.ReadReq_Options_Forwards:
		return st.subscribeAll(o, srv)
	}
	return status.Error(codes.Unimplemented, "kurrenttest: this kind of read is not implemented (only reads of one stream or $all, and subscriptions to $all)")
}

// readStream reads one stream forwards or backwards.
func (st *streams) readStream(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	ctx := srv.Context()
	so := o.GetStream()
	stream := string(so.GetStreamIdentifier().GetStreamName())
	last, exists := st.s.lastRevision(stream)
	if !exists {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)},
		}}})
	}
	count := o.GetCount()
	if count == 0 {
		return nil
	}
	first, err := st.firstVisible(ctx, stream, last)
	if err != nil {
		return storeError(ctx, err)
	}
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	var from uint64
	switch r := so.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Start:
		from = 0
	case *api.ReadReq_Options_StreamOptions_End:
		from = last + 1 // forwards from the end reads nothing
		if backwards {
			from = last
		}
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = r.Revision
	default:
		return status.Error(codes.InvalidArgument, "no revision option")
	}

	// lo..hi is the window to read, within what exists and is visible.
	var lo, hi uint64
	if backwards {
		hi = min(from, last)
		if hi < first {
			return nil
		}
		lo = first
		if hi-first+1 > count {
			lo = hi - count + 1
		}
	} else {
		lo = max(from, first)
		if lo > last {
			return nil
		}
		hi = last
		if hi-lo+1 > count {
			hi = lo + count - 1
		}
	}
	evs, err := st.s.store.ReadStream(ctx, stream, lo)
	if err != nil {
		return storeError(ctx, err)
	}
	for i := range evs {
		e := evs[i]
		if backwards {
			e = evs[len(evs)-1-i]
		}
		if e.Revision < lo || e.Revision > hi {
			continue
		}
		if err := srv.Send(readEvent(e, o.GetUuidOption())); err != nil {
			return err
		}
	}
	return nil
}

// firstVisible is the first revision of stream a read may return: its
// metadata's $maxCount and $tb hide older events, as they would be on a
// server after a scavenge (before one, KurrentDB hides them too).
func (st *streams) firstVisible(ctx context.Context, stream string, last uint64) (uint64, error) {
	if strings.HasPrefix(stream, "$$") {
		return 0, nil
	}
	metaStream := "$$" + stream
	metaLast, ok := st.s.lastRevision(metaStream)
	if !ok {
		return 0, nil
	}
	evs, err := st.s.store.ReadStream(ctx, metaStream, metaLast)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	var meta struct {
		MaxCount       *uint64 `json:"$maxCount"`
		TruncateBefore *uint64 `json:"$tb"`
	}
	if json.Unmarshal(evs[len(evs)-1].Data, &meta) != nil {
		return 0, nil //nolint:nilerr // KurrentDB ignores metadata it cannot parse
	}
	first := uint64(0)
	if meta.MaxCount != nil && *meta.MaxCount > 0 && last+1 > *meta.MaxCount {
		first = last + 1 - *meta.MaxCount
	}
	if meta.TruncateBefore != nil {
		first = max(first, *meta.TruncateBefore)
	}
	return first, nil
}

// errEnough ends a pass over the embedded store's log early.
var errEnough = errors.New("enough")

// readAll reads $all forwards or backwards, without a filter. As on
// KurrentDB, forwards from a position includes the event there and
// backwards from a position excludes it (an event is before a position
// when it ends there).
func (st *streams) readAll(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	ctx := srv.Context()
	head := st.s.headSeq()
	count := o.GetCount()
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	var first, last uint64 // sequence numbers to read, inclusive
	switch a := o.GetAll().GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Start:
		first, last = 1, head
		if backwards {
			return nil
		}
	case *api.ReadReq_Options_AllOptions_End:
		first, last = 1, head
		if !backwards {
			return nil
		}
	case *api.ReadReq_Options_AllOptions_Position:
		p := a.Position.GetCommitPosition()
		if backwards {
			// The event at sequence n ends where n+1 starts.
			if sequence(p) == 0 {
				return nil
			}
			first, last = 1, min(head, sequence(p)-1)
		} else {
			first, last = sequence(p+positionStride-1), head
		}
	default:
		return status.Error(codes.InvalidArgument, "no position option")
	}
	first = max(first, 1)
	if count == 0 || first > last {
		return nil
	}
	if backwards && last-first+1 > count {
		first = last - count + 1
	}
	if !backwards && last-first+1 > count {
		last = first + count - 1
	}
	var evs []eventstore.RecordedEvent
	err := st.s.store.SubscribeAll(ctx, eventstore.Position{Commit: first - 1, Prepare: first - 1}, func(_ context.Context, e eventstore.RecordedEvent) error {
		evs = append(evs, e)
		if e.Position.Commit >= last {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		return storeError(ctx, err)
	}
	for i := range evs {
		e := evs[i]
		if backwards {
			e = evs[len(evs)-1-i]
		}
		if err := srv.Send(readEvent(e, o.GetUuidOption())); err != nil {
			return err
		}
	}
	return nil
}

// subscribeAll serves a catch-up subscription to $all.
func (st *streams) subscribeAll(o *api.ReadReq_Options, srv api.Streams_ReadServer) error {
	ctx := srv.Context()
	f, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	var from uint64 // sequence number after which to start
	switch a := o.GetAll().GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Start:
	case *api.ReadReq_Options_AllOptions_End:
		from = st.s.headSeq()
	case *api.ReadReq_Options_AllOptions_Position:
		if a.Position.GetCommitPosition() != a.Position.GetPreparePosition() {
			return status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
		}
		from = sequence(a.Position.GetCommitPosition())
	default:
		return status.Error(codes.InvalidArgument, "no position option")
	}
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}

	// Caught up once the events that existed at the start have been
	// considered; KurrentDB then sends a checkpoint (filtered subscriptions
	// only) and caught_up.
	target := st.s.headSeq()
	caughtUp := from >= target
	if caughtUp {
		if f != nil && from > 0 {
			if err := srv.Send(checkpoint(from)); err != nil {
				return err
			}
		}
		if err := srv.Send(caughtUpMsg()); err != nil {
			return err
		}
	}
	considered, lastCheckpoint := uint64(0), uint64(0)
	var sendErr error
	send := func(m *api.ReadResp) error {
		sendErr = srv.Send(m)
		return sendErr
	}
	err = st.s.store.SubscribeAll(ctx, eventstore.Position{Commit: from, Prepare: from}, func(_ context.Context, e eventstore.RecordedEvent) error {
		seq := e.Position.Commit
		if f == nil || f.allows(e) {
			if err := send(readEvent(e, o.GetUuidOption())); err != nil {
				return err
			}
		}
		if f != nil {
			if considered++; considered%f.interval == 0 {
				lastCheckpoint = seq
				if err := send(checkpoint(seq)); err != nil {
					return err
				}
			}
		}
		if !caughtUp && seq >= target {
			caughtUp = true
			if f != nil && seq > lastCheckpoint {
				if err := send(checkpoint(seq)); err != nil {
					return err
				}
			}
			return send(caughtUpMsg())
		}
		return nil
	})
	if sendErr != nil {
		return sendErr // the client is gone
	}
	return storeError(ctx, err)
}

func caughtUpMsg() *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}
}

func checkpoint(seq uint64) *api.ReadResp {
	p := position(seq)
	return &api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
		CommitPosition: p, PreparePosition: p,
	}}}
}

// filter is a subscription's server-side filter.
type filter struct {
	byStream bool
	re       *regexp.Regexp
	prefixes []string
	interval uint64 // considered events between checkpoints
}

func newFilter(fo *api.ReadReq_Options_FilterOptions) (*filter, error) {
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch x := fo.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_EventType:
		expr = x.EventType
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, f.byStream = x.StreamIdentifier, true
	default:
		return nil, status.Error(codes.InvalidArgument, "filter without an expression")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "filter regex: %v", err)
		}
		f.re = re
	} else {
		f.prefixes = expr.GetPrefix()
	}
	window := uint64(readBatchSize)
	if m, ok := fo.GetWindow().(*api.ReadReq_Options_FilterOptions_Max); ok {
		window = uint64(m.Max)
	}
	if fo.GetCheckpointIntervalMultiplier() == 0 {
		return nil, status.Error(codes.InvalidArgument, "checkpointIntervalMultiplier must not be zero")
	}
	f.interval = max(1, window*uint64(fo.GetCheckpointIntervalMultiplier()))
	return f, nil
}

func (f *filter) allows(e eventstore.RecordedEvent) bool {
	subject := e.Type
	if f.byStream {
		subject = e.Stream
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

// readEvent converts a stored event to the message KurrentDB sends for it.
func readEvent(e eventstore.RecordedEvent, uuidOption *api.ReadReq_Options_UUIDOption) *api.ReadResp {
	p := position(e.Position.Commit)
	contentType := "application/octet-stream"
	if e.Metadata[metaJSON] == "true" {
		contentType = "application/json"
	}
	id := uuid.MustParse(e.ID)
	rec := &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               toUUID(id, uuidOption),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
		StreamRevision:   e.Revision,
		CommitPosition:   p,
		PreparePosition:  p,
		Metadata: map[string]string{
			"type": e.Type,
			// .NET ticks (100 ns) since the Unix epoch.
			"created":      strconv.FormatInt(e.Time.UnixNano()/100, 10),
			"content-type": contentType,
		},
		Data:           e.Data,
		CustomMetadata: []byte(e.Metadata[metaCustom]),
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event:    rec,
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: p},
	}}}
}

// toUUID encodes id as the client asked: two big-endian halves
// (structured, the default) or a string.
func toUUID(id uuid.UUID, o *api.ReadReq_Options_UUIDOption) *shared.UUID {
	if o.GetString_() != nil {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func fromUUID(u *shared.UUID) (uuid.UUID, error) {
	switch v := u.GetValue().(type) {
	case *shared.UUID_Structured_:
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return id, nil
	case *shared.UUID_String_:
		return uuid.Parse(v.String_)
	}
	return uuid.Nil, fmt.Errorf("missing")
}
