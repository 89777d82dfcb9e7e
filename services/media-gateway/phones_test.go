package mediagateway_test

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// phone is a SIP user agent written with diago, standing for the agents'
// phones or for the trunk: it answers every INVITE and counts, per call
// attempt (the gateway's X-Ringback-Call header), the INVITEs and the BYEs
// it receives, whoever sends them.
type phone struct {
	Addr string
	dg   *diago.Diago
	// ringOnly: it rings and never answers; unrung counts the calls whose
	// ringing ended without an answer (a CANCEL), by call attempt.
	ringOnly bool
	unrung   map[string]int
	// answerAfter: it rings this long before it answers.
	answerAfter time.Duration
	// silentFor: it says nothing (but 100 Trying) this long before it
	// rings; set with silentFirst before any call.
	silentFor atomic.Int64
	// atOnce: it answers with no ringing before (no 180).
	atOnce atomic.Bool
	// onAck, when set, sees each ACK before diago does.
	onAck atomic.Pointer[func(*sipgosip.Request)]

	mu      sync.Mutex
	invites map[string]int    // call attempt -> initial INVITEs
	byes    map[string]int    // call attempt -> BYEs
	dialogs map[string]string // SIP Call-ID -> call attempt
	other   map[string]int    // other in-dialog requests by method (UPDATE, INVITE refreshes)
	byeAt   map[string]time.Time
	byeLog  map[string][]string // call attempt -> each BYE's source and CSeq, for failures
}

func startPhone(t *testing.T) *phone { return startPhoneWith(t, false, 0) }

// startRingingPhone is a phone that rings until the caller gives up.
func startRingingPhone(t *testing.T) *phone { return startPhoneWith(t, true, 0) }

// startSlowPhone is a phone that rings for answerAfter, then answers.
func startSlowPhone(t *testing.T, answerAfter time.Duration) *phone {
	return startPhoneWith(t, false, answerAfter)
}

func startPhoneWith(t *testing.T, ringOnly bool, answerAfter time.Duration) *phone {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	p := &phone{Addr: conn.LocalAddr().String(), invites: map[string]int{}, byes: map[string]int{},
		dialogs: map[string]string{}, other: map[string]int{}, byeAt: map[string]time.Time{},
		byeLog: map[string][]string{}, ringOnly: ringOnly, unrung: map[string]int{},
		answerAfter: answerAfter}
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("phone-"+strconv.Itoa(port)), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet),
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(*sipgosip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	dg := diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(quiet),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: port}),
		diago.WithServerRequestMiddleware(p.count))
	p.dg = dg
	dg.HandleFunc(func(d *diago.DialogServerSession) {
		if wait := time.Duration(p.silentFor.Load()); wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.Context().Done():
				return
			}
		}
		if !p.atOnce.Load() {
			_ = d.Ringing()
		}
		if p.answerAfter > 0 {
			select {
			case <-time.After(p.answerAfter):
			case <-d.Context().Done():
				return
			}
		}
		if p.ringOnly {
			<-d.Context().Done()
			if h := d.InviteRequest.GetHeader("X-Ringback-Call"); h != nil {
				p.mu.Lock()
				p.unrung[h.Value()]++
				p.mu.Unlock()
			}
			return
		}
		if _, err := d.Answer(diago.AnswerOptions{Codecs: []media.Codec{media.CodecAudioUlaw, media.CodecTelephoneEvent8000}}); err != nil {
			return
		}
		<-d.Context().Done()
	})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		<-served
		ua.Close()
	})
	waitFor(t, 5*time.Second, "phone listening", func() bool {
		_, err := ua.TransportLayer().GetConnection("udp", p.Addr)
		return err == nil
	})
	return p
}

// count sees every request before diago does.
func (p *phone) count(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		callID := ""
		if h := req.CallID(); h != nil {
			callID = h.Value()
		}
		p.mu.Lock()
		switch {
		case req.IsInvite() && !req.To().Params.Has("tag"):
			if h := req.GetHeader("X-Ringback-Call"); h != nil {
				p.invites[h.Value()]++
				p.dialogs[callID] = h.Value()
			}
		case req.Method == sipgosip.BYE:
			if k, ok := p.dialogs[callID]; ok {
				p.byes[k]++
				p.byeAt[k] = time.Now()
				p.byeLog[k] = append(p.byeLog[k], time.Now().Format("05.000")+" "+req.Source()+" "+req.CSeq().Value())
			}
		case !req.IsAck():
			p.other[req.Method.String()]++
		}
		p.mu.Unlock()
		if f := p.onAck.Load(); f != nil && req.IsAck() {
			(*f)(req)
		}
		next(req, tx)
	}
}

func (p *phone) invitesOf(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.invites[call]
}

func (p *phone) byesOf(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byes[call]
}

func (p *phone) byeSources(call string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byeLog[call]
}

func (p *phone) unrungOf(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unrung[call]
}

func (p *phone) lastByeOf(call string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byeAt[call]
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
