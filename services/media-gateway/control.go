package mediagateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	mediav1 "github.com/ringback/ringback/proto/ringback/media/v1"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// errNotHere: the call is not one this process holds (ended, or placed by
// a gateway that has since restarted).
var errNotHere = errors.New("the call is not connected on this gateway")

// control carries out an agent's hold, DTMF, mute or recording request on
// the live call, and records what happened in the call's stream. A request
// that cannot be carried out is recorded as CallControlFailed: it is an
// outcome the agent sees, not a reason to retry.
func (s *Service) control(ctx context.Context, e envelope.Envelope) error {
	var (
		callID, interactionID, action string
		do                            func(ctx context.Context, l *live) (proto.Message, error)
	)
	at := timestamppb.New(s.deps.Clock.Now())
	switch ev := e.Event.(type) {
	case *agentv1.HoldRequested:
		callID, interactionID, action = ev.CallId, ev.InteractionId, "hold"
		do = func(ctx context.Context, l *live) (proto.Message, error) {
			var err error
			if ev.Hold {
				err = l.call.Hold(ctx)
			} else {
				action = "retrieve"
				err = l.call.Retrieve(ctx)
			}
			return &mediav1.CallHeld{CallId: callID, InteractionId: interactionID, Held: ev.Hold, At: at}, err
		}
	case *agentv1.DtmfRequested:
		callID, interactionID, action = ev.CallId, ev.InteractionId, "dtmf"
		do = func(ctx context.Context, l *live) (proto.Message, error) {
			return &mediav1.DtmfSent{CallId: callID, InteractionId: interactionID, Digits: ev.Digits, At: at}, l.call.SendDTMF(ctx, ev.Digits)
		}
	case *agentv1.MuteRequested:
		callID, interactionID, action = ev.CallId, ev.InteractionId, "mute"
		do = func(_ context.Context, l *live) (proto.Message, error) {
			return &mediav1.MuteChanged{CallId: callID, InteractionId: interactionID, Muted: ev.Muted, At: at}, l.call.Mute(ev.Muted)
		}
	case *agentv1.RecordingRequested:
		callID, interactionID, action = ev.CallId, ev.InteractionId, "record"
		do = func(_ context.Context, l *live) (proto.Message, error) {
			if !ev.Record {
				action = "stop recording"
				d, err := l.call.StopRecording()
				return &mediav1.RecordingStopped{CallId: callID, InteractionId: interactionID, Location: l.recording,
					Duration: durationpb.New(d), At: at}, err
			}
			path, err := s.recordingPath(callID)
			if err == nil {
				err = l.call.StartSealedRecording(path, s.sealRecording(ctx, e.Correlation))
			}
			l.recording = path
			return &mediav1.RecordingStarted{CallId: callID, InteractionId: interactionID, Location: path, At: at}, err
		}
	default:
		return nil
	}
	var done proto.Message
	l := s.calls.connectedCall(callID)
	err := errNotHere
	if l != nil {
		done, err = do(ctx, l)
	}
	if err != nil {
		s.deps.Log.WarnContext(ctx, "call control failed", "call", callID, "action", action, "err", err)
		done = &mediav1.CallControlFailed{CallId: callID, InteractionId: interactionID, Action: action, Reason: err.Error(), At: at}
	}
	_, err = s.executeFn(ctx, callID, eventstore.Cause{ID: e.ID, Correlation: e.Correlation},
		func(st call.State) ([]proto.Message, error) {
			if st.Status != call.Connected {
				// Ended meanwhile: the end is what the agent sees.
				return nil, nil
			}
			return []proto.Message{done}, nil
		})
	return err
}

// recordingPath is where a call's recording goes: one WAV file per start,
// under the recordings directory.
func (s *Service) recordingPath(callID string) (string, error) {
	if s.cfg.Recordings == "" {
		return "", errors.New("recording is not configured (--media.recordings)")
	}
	dir := filepath.Join(s.cfg.Recordings, s.deps.Clock.Now().UTC().Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("recordings directory: %w", err)
	}
	ext := ".wav"
	if s.deps.Recordings != nil {
		ext = ".wav.sealed" // libs/personal's sealed stream: the WAV opens with the contact's key
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%d%s", callID, time.Now().UnixNano(), ext)), nil
}

// RecordingSealer seals a recording's stream with the key of the contact
// of a callback (libs/personal.Sealer).
type RecordingSealer interface {
	// SealWriter returns a writer sealing into w; its Close ends the
	// stream and leaves w open.
	SealWriter(ctx context.Context, correlation string, w io.Writer) (io.WriteCloser, error)
}

// sealRecording is how a recording of callback correlation is sealed; nil
// when recordings are not sealed. The recorder calls it at once, within
// the request's ctx.
func (s *Service) sealRecording(ctx context.Context, correlation string) sip.Seal {
	if s.deps.Recordings == nil {
		return nil
	}
	return func(w io.Writer) (io.WriteCloser, error) { return s.deps.Recordings.SealWriter(ctx, correlation, w) }
}
