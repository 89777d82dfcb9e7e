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

	"github.com/ringback/ringback/libs/envelope"
	"github.com/ringback/ringback/libs/eventstore"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	"github.com/ringback/ringback/services/media-gateway/call"
	"github.com/ringback/ringback/services/media-gateway/telephony"
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
		callID string
		// do carries the request out on the live call and says what it
		// did; call.Decide records it.
		do func(ctx context.Context, l *live) (call.Control, error)
	)
	switch ev := e.Event.(type) {
	case *agentv1.HoldRequested:
		callID = ev.CallId
		do = func(ctx context.Context, l *live) (call.Control, error) {
			if ev.Hold {
				return call.Control{Action: call.ActionHold}, l.call.Hold(ctx)
			}
			return call.Control{Action: call.ActionRetrieve}, l.call.Retrieve(ctx)
		}
	case *agentv1.DtmfRequested:
		callID = ev.CallId
		do = func(ctx context.Context, l *live) (call.Control, error) {
			return call.Control{Action: call.ActionDTMF, Digits: ev.Digits}, l.call.SendDTMF(ctx, ev.Digits)
		}
	case *agentv1.MuteRequested:
		callID = ev.CallId
		do = func(_ context.Context, l *live) (call.Control, error) {
			return call.Control{Action: call.ActionMute, Muted: ev.Muted}, l.call.Mute(ev.Muted)
		}
	case *agentv1.RecordingRequested:
		callID = ev.CallId
		do = func(_ context.Context, l *live) (call.Control, error) {
			if !ev.Record {
				d, err := l.call.StopRecording()
				return call.Control{Action: call.ActionStopRecording, Location: l.recording, Duration: d}, err
			}
			path, err := s.recordingPath(callID)
			if err == nil {
				err = l.call.StartSealedRecording(path, s.sealRecording(ctx, e.Correlation))
			}
			l.recording = path
			return call.Control{Action: call.ActionRecord, Location: path}, err
		}
	default:
		return nil
	}
	var done call.Control
	l := s.calls.connectedCall(callID)
	err := errNotHere
	if l != nil {
		done, err = do(ctx, l)
	}
	if err != nil {
		if done.Action == "" { // not on this gateway: which request it was
			done.Action = controlAction(e.Event)
		}
		s.deps.Log.WarnContext(ctx, "call control failed", "call", callID, "action", done.Action, "err", err)
		done = call.Control{Action: done.Action, Failed: err.Error()}
	}
	done.At = s.deps.Clock.Now()
	_, err = s.execute(ctx, callID, eventstore.Cause{ID: e.ID, Correlation: e.Correlation}, done)
	return err
}

// controlAction names a request that could not even reach its call.
func controlAction(ev proto.Message) call.Action {
	switch ev := ev.(type) {
	case *agentv1.HoldRequested:
		if !ev.Hold {
			return call.ActionRetrieve
		}
		return call.ActionHold
	case *agentv1.DtmfRequested:
		return call.ActionDTMF
	case *agentv1.MuteRequested:
		return call.ActionMute
	case *agentv1.RecordingRequested:
		if !ev.Record {
			return call.ActionStopRecording
		}
		return call.ActionRecord
	}
	return ""
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
func (s *Service) sealRecording(ctx context.Context, correlation string) telephony.Seal {
	if s.deps.Recordings == nil {
		return nil
	}
	return func(w io.Writer) (io.WriteCloser, error) { return s.deps.Recordings.SealWriter(ctx, correlation, w) }
}
