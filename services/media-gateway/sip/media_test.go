package sip_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emiago/diago/audio"
	"github.com/emiago/diago/media"

	"github.com/ringback/ringback/libs/siptest"
	"github.com/ringback/ringback/services/media-gateway/sip"
)

// These tests put Go UAs (diago) on both sides of a call: the agent's phone
// and the trunk. Each sends 20 ms PCMU frames filled with its mark and
// counts the frames that reach it, so that what the bridge forwards, drops
// and generates can be told apart.

func dialGoUAs(t *testing.T, id string) (call *sip.Call, agent, contact *goUA) {
	t.Helper()
	agent = startGoUA(t, agentMark)
	contact = startGoUA(t, contactMark)
	g := startGateway(t, contact.Addr, nil)
	call, err := g.Dial(context.Background(), id, "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = call.Hangup(context.Background()) })
	return call, agent, contact
}

func TestCallMedia(t *testing.T) {
	t.Parallel()
	call, agent, contact := dialGoUAs(t, "call-media")
	fromAgent := func() int { return contact.count(agentMark) }
	fromContact := func() int { return agent.count(contactMark) }
	ctx := context.Background()

	t.Run("audio both ways", func(t *testing.T) {
		grows(t, "agent's audio at the contact", fromAgent, 25)
		grows(t, "contact's audio at the agent", fromContact, 25)
	})

	t.Run("dtmf", func(t *testing.T) {
		if err := call.SendDTMF(ctx, "12#"); err != nil {
			t.Fatalf("SendDTMF: %v", err)
		}
		waitUntil(t, "digits 12# at the contact", func() bool { return contact.dtmf() == "12#" })
		for _, bad := range []string{"", "12x", "1 2", "a", "12345678901234567890123456789012345678901234567890123456789012345"} {
			if err := call.SendDTMF(ctx, bad); !errors.Is(err, sip.ErrInvalidDigits) {
				t.Errorf("SendDTMF(%q) = %v, want ErrInvalidDigits", bad, err)
			}
		}
		if err := call.SendDTMF(ctx, "*D"); err != nil {
			t.Fatalf("SendDTMF: %v", err)
		}
		// Nothing of the refused digits went out before these.
		waitUntil(t, "digits 12#*D at the contact", func() bool { return contact.dtmf() == "12#*D" })
		grows(t, "agent's audio after the digits", fromAgent, 10)
	})

	t.Run("mute", func(t *testing.T) {
		for range 2 { // idempotent
			if err := call.Mute(true); err != nil {
				t.Fatalf("Mute(true): %v", err)
			}
		}
		if !call.Muted() {
			t.Error("Muted() = false after Mute(true)")
		}
		stays(t, "agent's audio at the contact while muted", fromAgent, 2)
		grows(t, "contact's audio at the agent while muted", fromContact, 10)
		if err := call.Mute(false); err != nil {
			t.Fatalf("Mute(false): %v", err)
		}
		if call.Muted() {
			t.Error("Muted() = true after Mute(false)")
		}
		grows(t, "agent's audio at the contact after unmute", fromAgent, 10)
	})

	t.Run("record", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "call.wav")
		start := time.Now()
		if err := call.StartRecording(path); err != nil {
			t.Fatalf("StartRecording: %v", err)
		}
		if err := call.StartRecording(path); err != nil {
			t.Errorf("StartRecording again, same file: %v", err)
		}
		if err := call.StartRecording(path + ".2"); err == nil {
			t.Error("a second recording to another file started")
		}
		if !call.Recording() {
			t.Error("Recording() = false while recording")
		}
		time.Sleep(time.Second)
		dur, err := call.StopRecording()
		wall := time.Since(start)
		if err != nil {
			t.Fatalf("StopRecording: %v", err)
		}
		if call.Recording() {
			t.Error("Recording() = true after StopRecording")
		}
		left, right := readWAV(t, path, dur)
		if dur < wall*8/10 || dur > wall*12/10 {
			t.Errorf("recorded %s of a %s recording, want within 20%%", dur, wall)
		}
		// Both directions are in: the agent's mark on the left, the
		// contact's on the right.
		if n := countSample(left, pcmuSample(agentMark)); n < 1600 {
			t.Errorf("left channel has %d samples of the agent's audio, want 1600 (0.2 s) at least", n)
		}
		if n := countSample(right, pcmuSample(contactMark)); n < 1600 {
			t.Errorf("right channel has %d samples of the contact's audio, want 1600 (0.2 s) at least", n)
		}
		if d, err := call.StopRecording(); d != 0 || err != nil {
			t.Errorf("StopRecording without a recording = %s, %v; want 0, nil", d, err)
		}
		if err := call.StartRecording(path); err == nil {
			t.Error("a recording overwrote an existing file")
		}
	})

	t.Run("hold and retrieve", func(t *testing.T) {
		for range 2 { // idempotent
			if err := call.Hold(ctx); err != nil {
				t.Fatalf("Hold: %v", err)
			}
		}
		if !call.OnHold() {
			t.Error("OnHold() = false after Hold")
		}
		// The contact hears the gateway's tone (a beep, then silence).
		grows(t, "hold tone at the contact", contact.variedCount, 5)
		grows(t, "silence at the contact", func() int { return contact.count(pcmuSilence) }, 10)
		stays(t, "agent's audio at the contact on hold", fromAgent, 2)
		stays(t, "contact's audio at the agent on hold", fromContact, 2)
		for range 2 {
			if err := call.Retrieve(ctx); err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
		}
		if call.OnHold() {
			t.Error("OnHold() = true after Retrieve")
		}
		grows(t, "agent's audio at the contact after retrieve", fromAgent, 10)
		grows(t, "contact's audio at the agent after retrieve", fromContact, 10)
	})

	t.Run("after hangup", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "end.wav")
		if err := call.StartRecording(path); err != nil {
			t.Fatalf("StartRecording: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		if err := call.Hangup(ctx); err != nil {
			t.Fatalf("Hangup: %v", err)
		}
		// The hangup completed the recording; its duration is kept once.
		dur, err := call.StopRecording()
		if err != nil || dur <= 0 {
			t.Errorf("StopRecording after hangup = %s, %v; want the recording's duration", dur, err)
		}
		readWAV(t, path, dur)
		if call.Recording() {
			t.Error("Recording() = true after hangup")
		}
		for name, err := range map[string]error{
			"Hold":           call.Hold(ctx),
			"Retrieve":       call.Retrieve(ctx),
			"Mute":           call.Mute(true),
			"SendDTMF":       call.SendDTMF(ctx, "1"),
			"StartRecording": call.StartRecording(filepath.Join(t.TempDir(), "late.wav")),
			"StopRecording":  func() error { _, err := call.StopRecording(); return err }(),
		} {
			if !errors.Is(err, sip.ErrCallEnded) {
				t.Errorf("%s after hangup = %v, want ErrCallEnded", name, err)
			}
		}
	})
}

// TestControlsRaceHangup runs every control against a hangup: each returns
// nil or ErrCallEnded, and -race sees no data race.
func TestControlsRaceHangup(t *testing.T) {
	t.Parallel()
	call, agent, contact := dialGoUAs(t, "call-race")
	grows(t, "audio at the contact", func() int { return contact.count(agentMark) }, 5)
	_ = agent
	ctx := context.Background()
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	run := func(f func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if err := f(i); err != nil {
					errs <- err
					if errors.Is(err, sip.ErrCallEnded) {
						return
					}
				}
			}
		}()
	}
	run(func(int) error { return call.Hold(ctx) })
	run(func(int) error { return call.Retrieve(ctx) })
	run(func(i int) error { return call.Mute(i%2 == 0) })
	run(func(int) error { return call.SendDTMF(ctx, "5") })
	run(func(i int) error {
		if err := call.StartRecording(filepath.Join(dir, time.Now().Format("150405.000000000")+".wav")); err != nil {
			return err
		}
		_, err := call.StopRecording()
		return err
	})
	time.Sleep(200 * time.Millisecond)
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, sip.ErrCallEnded) {
			t.Errorf("control racing the hangup: %v, want nil or ErrCallEnded", err)
		}
	}
}

// TestTranscoding: the agent's phone speaks PCMU, the trunk only PCMA (and
// no telephone-event): the bridge converts between the laws.
func TestTranscoding(t *testing.T) {
	t.Parallel()
	agent := startGoUA(t, agentMark)
	contact := startGoUA(t, alawMark, media.CodecAudioAlaw)
	g := startGateway(t, contact.Addr, nil)
	ctx := context.Background()
	call, err := g.Dial(ctx, "call-transcode", "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = call.Hangup(ctx) }() // ended already, perhaps
	// The same sound in the other law: decode, encode.
	grows(t, "agent's audio at the contact, in PCMA", func() int { return contact.count(convert(agentMark, audio.DecodeUlawTo, audio.EncodeAlawTo)) }, 25)
	grows(t, "contact's audio at the agent, in PCMU", func() int { return agent.count(convert(alawMark, audio.DecodeAlawTo, audio.EncodeUlawTo)) }, 25)
	if err := call.SendDTMF(ctx, "1"); !errors.Is(err, sip.ErrNoTelephoneEvent) {
		t.Errorf("SendDTMF to a trunk without telephone-event = %v, want ErrNoTelephoneEvent", err)
	}
}

// alawMark is the trunk's mark in TestTranscoding (in A-law).
const alawMark byte = 0x2A

func convert(b byte, decode func(pcm, g711 []byte) (int, error), encode func(g711, pcm []byte) (int, error)) byte {
	pcm, out := make([]byte, 2), make([]byte, 1)
	if _, err := decode(pcm, []byte{b}); err != nil {
		panic(err)
	}
	if _, err := encode(out, pcm); err != nil {
		panic(err)
	}
	return out[0]
}

// readWAV checks the file is a complete stereo 16-bit 8 kHz PCM WAV of
// duration dur and returns its channels.
func readWAV(t *testing.T, path string, dur time.Duration) (left, right []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		t.Fatalf("%s: not a canonical WAV header: % x", path, b[:min(len(b), 44)])
	}
	if got := le.Uint32(b[4:]); int(got) != len(b)-8 {
		t.Errorf("RIFF size %d, file has %d bytes after it", got, len(b)-8)
	}
	format, channels, rate, byteRate, align, bits := le.Uint16(b[20:]), le.Uint16(b[22:]), le.Uint32(b[24:]), le.Uint32(b[28:]), le.Uint16(b[32:]), le.Uint16(b[34:])
	if format != 1 || channels != 2 || rate != 8000 || bits != 16 || align != 4 || byteRate != 32000 {
		t.Errorf("format %d, %d channels, %d Hz, %d bits, align %d, %d B/s; want PCM stereo 8000 Hz 16 bits", format, channels, rate, bits, align, byteRate)
	}
	data := b[44:]
	if got := le.Uint32(b[40:]); int(got) != len(data) {
		t.Errorf("data size %d, file has %d bytes of data", got, len(data))
	}
	frames := len(data) / 4
	if got := time.Duration(frames) * time.Second / 8000; got != dur {
		t.Errorf("file holds %s, StopRecording said %s", got, dur)
	}
	for i := 0; i+4 <= len(data); i += 4 {
		left = append(left, int16(le.Uint16(data[i:])))
		right = append(right, int16(le.Uint16(data[i+2:])))
	}
	return left, right
}

func pcmuSample(b byte) int16 {
	pcm := make([]byte, 2)
	if _, err := audio.DecodeUlawTo(pcm, []byte{b}); err != nil {
		panic(err)
	}
	return int16(binary.LittleEndian.Uint16(pcm))
}

func countSample(samples []int16, v int16) int {
	n := 0
	for _, s := range samples {
		if s == v {
			n++
		}
	}
	return n
}

// TestAudioFromSipp: a trunk that talks (sipp playing the PCMA speech it
// ships) is heard by the agent's phone (PCMU), through the bridge.
func TestAudioFromSipp(t *testing.T) {
	t.Parallel()
	siptest.RequirePCMAPcap(t)
	trunk := siptest.StartUAS(t, siptest.AnswerPlayPCMA)
	agent := startGoUA(t, agentMark)
	g := startGateway(t, trunk.Addr, nil)
	ctx := context.Background()
	call, err := g.Dial(ctx, "call-sipp-audio", "sip:agent1@"+agent.Addr, number, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = call.Hangup(ctx) }() // ended already, perhaps
	// Speech, not one byte repeated: the varied packets.
	grows(t, "the trunk's speech at the agent", agent.variedCount, 50)
}
