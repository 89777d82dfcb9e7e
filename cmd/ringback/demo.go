package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
)

// demoAgents log in with a phone on the demo trunk, so that "your phone
// rings" is answered by the demo too.
var demoAgents = []string{"demo-agent-1", "demo-agent-2"}

// demo plays the outside world for a newcomer: a SIP trunk on --sip-trunk
// where every number answers (the contact) and every agent phone answers
// (the agent), echoing audio back; and demo agents logged in and Ready,
// through the platform's own HTTP API like any desktop.
type demo struct {
	a    *App
	dg   *diago.Diago
	host string
	port int
	log  *slog.Logger
}

func newDemo(a *App) (*demo, error) {
	host, portStr, err := net.SplitHostPort(a.Config.SIPTrunk)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portStr)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("ringback-demo"), sipgo.WithUserAgentHostname(host))
	if err != nil {
		return nil, fmt.Errorf("demo user agent: %w", err)
	}
	dg := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "udp", BindHost: host, BindPort: port}),
		// telephone-event: the agent sends DTMF to the demo contact (RFC 4733).
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{media.CodecAudioUlaw, media.CodecAudioAlaw, media.CodecTelephoneEvent8000}}))
	d := &demo{a: a, dg: dg, host: host, port: port, log: a.Log.With("component", "demo")}
	if a.Config.Scheduler.CallingWindow == "00:00-24:00" {
		d.log.Info("the calling window is open around the clock, so the demo rings at any hour; "+
			"for real contacts keep the default 08:00-21:00 of their local time",
			"flags", "--scheduler.calling-window, --agent-session.calling-window")
	}
	return d, nil
}

// Run answers calls until ctx is done, after logging the demo agents in.
func (d *demo) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		errc <- d.dg.Serve(ctx, func(in *diago.DialogServerSession) {
			_ = in.Ringing()
			m, err := in.Answer(diago.AnswerOptions{})
			if err != nil {
				d.log.Warn("demo phone: answer", "err", err)
				return
			}
			// Echo: what one side says, the other side of the bridge hears back.
			r, rerr := m.AudioReader()
			w, werr := m.AudioWriter()
			if rerr == nil && werr == nil {
				_, _ = media.Copy(r, w)
			}
			<-in.Context().Done()
		})
	}()
	if err := d.loginAgents(ctx); err != nil {
		d.log.Error("demo agents", "err", err)
	}
	d.log.Info("demo ready: request a callback, the demo agents get it",
		"try", fmt.Sprintf(`curl -X POST http://%s/v1/callbacks -H 'Content-Type: application/json' -d '{"service":"support","phone_number":"+14155550123","subject":"Billing"}'`, d.a.Config.HTTP))
	err := <-errc
	if ctx.Err() != nil {
		return nil //nolint:nilerr // stopped: the services ending under the stop is the stop
	}
	return err
}

func (d *demo) loginAgents(ctx context.Context) error {
	base := "http://" + d.a.Config.HTTP
	for _, id := range demoAgents {
		phone := fmt.Sprintf("sip:%s@%s", id, net.JoinHostPort(d.host, strconv.Itoa(d.port)))
		if err := d.call(ctx, http.MethodPost, base+"/v1/agents/"+id+"/session", map[string]string{"phone_uri": phone}); err != nil {
			return err
		}
		if err := d.call(ctx, http.MethodPut, base+"/v1/agents/"+id+"/state", map[string]string{"channel": "webcallback", "state": "READY"}); err != nil {
			return err
		}
	}
	return nil
}

// call retries while the HTTP server is still starting.
func (d *demo) call(ctx context.Context, method, url string, body any) error {
	b, _ := json.Marshal(body)
	var last error
	for range 50 {
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode < 300 {
				return nil
			}
			return fmt.Errorf("%s %s: %s: %s", method, url, res.Status, msg)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.Join(errors.New("demo: platform did not answer"), last)
}
