package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"
)

// leg is one INVITE dialog as the wire saw it: when the INVITE was read off
// the socket and when our 200 OK to it was written to the socket (UAS side),
// or, for a dialog this UA placed, when the 200 OK was read (UAC side).
type leg struct {
	User   string // Request-URI user: an agent id or an E.164 number
	CallID string
	Invite time.Time // INVITE read (UAS)
	OK     time.Time // 200 written (UAS) or read (UAC)
}

// tapConn is the UA's UDP socket, timestamping SIP datagrams at the
// syscall boundary: the earliest moment user space can see an INVITE and
// the last moment before our 200 leaves, so the UA library's own parsing
// and dialog handling count on the UA's side, not the platform's.
type tapConn struct {
	net.PacketConn
	mu   sync.Mutex
	legs map[string]*leg // by Call-ID
}

func (c *tapConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		now := time.Now()
		switch {
		case bytes.HasPrefix(b[:n], []byte("INVITE ")):
			c.note(b[:n], now, true)
		case isInviteOK(b[:n]):
			c.note(b[:n], now, false)
		}
	}
	return n, addr, err
}

func (c *tapConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if isInviteOK(b) {
		c.note(b, time.Now(), false)
	}
	return c.PacketConn.WriteTo(b, addr)
}

// isInviteOK: a 200 answering an INVITE (not a BYE or a re-INVITE's: those
// come after the first, which is the one kept).
func isInviteOK(b []byte) bool {
	return bytes.HasPrefix(b, []byte("SIP/2.0 200 ")) && bytes.Contains(header(b, "CSeq"), []byte("INVITE"))
}

// note keeps the first INVITE and the first 200 of each Call-ID:
// retransmissions are not the moment we measure.
func (c *tapConn) note(msg []byte, at time.Time, invite bool) {
	id := string(header(msg, "Call-ID"))
	if id == "" {
		id = string(header(msg, "i"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.legs[id]
	if l == nil {
		l = &leg{CallID: id}
		c.legs[id] = l
	}
	switch {
	case invite && l.Invite.IsZero():
		l.Invite, l.User = at, requestUser(msg)
	case !invite && l.OK.IsZero():
		l.OK = at
	}
}

// find returns the leg to user whose INVITE came at or after since.
func (c *tapConn) find(user string, since time.Time) (leg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.legs {
		if l.User == user && !l.Invite.Before(since) {
			return *l, true
		}
	}
	return leg{}, false
}

func (c *tapConn) byCallID(id string) (leg, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.legs[id]; l != nil {
		return *l, true
	}
	return leg{}, false
}

// header returns the value of the first header named name (no folding:
// sipgo writes none).
func header(msg []byte, name string) []byte {
	for _, line := range bytes.Split(msg, []byte("\r\n"))[1:] {
		if len(line) == 0 {
			return nil // end of headers
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// requestUser is the user part of the Request-URI: "INVITE sip:USER@host".
func requestUser(msg []byte) string {
	line, _, _ := bytes.Cut(msg, []byte("\r\n"))
	_, uri, _ := bytes.Cut(line, []byte(" "))
	uri = bytes.TrimPrefix(uri, []byte("sip:"))
	user, _, _ := bytes.Cut(uri, []byte("@"))
	return string(user)
}

// ua is a Go SIP user agent (diago over sipgo) on one loopback UDP socket.
// As a UAS it answers every INVITE at once with 200 OK (no 180: the figure
// is the platform's latency, not a ring time) and holds the call until the
// other side's BYE; it plays the agents' phones and the trunk at once. As a
// UAC it places the baseline's calls.
type ua struct {
	Addr string // 127.0.0.1:port
	Port int
	tap  *tapConn
	sua  *sipgo.UserAgent
	dg   *diago.Diago
	done chan error // ServeUDP's result
}

// startUA binds a free loopback port and serves SIP on it until ctx is
// done; call close to release it.
func startUA(ctx context.Context, name string) (*ua, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ua %s: listen: %w", name, err)
	}
	bound := conn.LocalAddr().(*net.UDPAddr)
	quiet := slog.New(slog.DiscardHandler)
	sua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet),
			sipgosip.WithTransactionLayerUnhandledResponseHandler(func(*sipgosip.Response) {})))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ua %s: %w", name, err)
	}
	srv, err := sipgo.NewServer(sua, sipgo.WithServerLogger(quiet))
	if err != nil {
		conn.Close()
		sua.Close()
		return nil, fmt.Errorf("ua %s: server: %w", name, err)
	}
	// As in the media gateway: the transport names the socket we serve on,
	// so diago's client sends from it and every leg has one address.
	dg := diago.NewDiago(sua, diago.WithServer(srv), diago.WithLogger(quiet),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: bound.IP.String(), BindPort: bound.Port}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{media.CodecAudioUlaw, media.CodecAudioAlaw}}))
	dg.HandleFunc(func(in *diago.DialogServerSession) {
		if _, err := in.Answer(diago.AnswerOptions{}); err != nil {
			return // the caller gave up: nothing to measure
		}
		select {
		case <-in.Context().Done(): // their BYE
		case <-ctx.Done():
		}
	})
	tap := &tapConn{PacketConn: conn, legs: map[string]*leg{}}
	u := &ua{Addr: bound.String(), Port: bound.Port, tap: tap, sua: sua, dg: dg, done: make(chan error, 1)}
	go func() { u.done <- srv.ServeUDP(tap) }()
	// Until sipgo has registered the socket, a dialog would bind another.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := sua.TransportLayer().GetConnection("udp", u.Addr); err == nil {
			return u, nil
		}
		if time.Now().After(deadline) {
			u.close()
			return nil, fmt.Errorf("ua %s: socket %s not serving after 5s", name, u.Addr)
		}
		time.Sleep(time.Millisecond)
	}
}

// close stops serving and releases the socket; calls still up are dropped.
func (u *ua) close() error {
	err := u.tap.Close()
	if serr := <-u.done; serr != nil && !errors.Is(serr, net.ErrClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, u.sua.Close())
}

// call places one call to sip:user@to, the way the gateway does (diago
// Invite, then Ack), hangs it up, and returns when it sent the INVITE and
// when Invite returned with the answer.
func (u *ua) call(ctx context.Context, user, to string) (sent, answered time.Time, callID string, err error) {
	host, portStr, err := net.SplitHostPort(to)
	if err != nil {
		return sent, answered, "", fmt.Errorf("baseline: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return sent, answered, "", fmt.Errorf("baseline: port of %s: %w", to, err)
	}
	dlg, err := u.dg.NewDialog(sipgosip.Uri{Scheme: "sip", User: user, Host: host, Port: port}, diago.NewDialogOptions{Transport: "udp"})
	if err != nil {
		return sent, answered, "", fmt.Errorf("baseline dialog: %w", err)
	}
	defer dlg.Close()
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sent = time.Now()
	if _, err := dlg.Invite(ictx, diago.InviteClientOptions{}); err != nil {
		return sent, answered, "", fmt.Errorf("baseline invite %s: %w", user, err)
	}
	answered = time.Now()
	callID = dlg.InviteRequest.CallID().Value()
	if err := dlg.Ack(ictx); err != nil {
		return sent, answered, callID, fmt.Errorf("baseline ack: %w", err)
	}
	if err := dlg.Hangup(ictx); err != nil {
		return sent, answered, callID, fmt.Errorf("baseline bye: %w", err)
	}
	return sent, answered, callID, nil
}
