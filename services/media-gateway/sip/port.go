package sip

import (
	"context"

	"github.com/ringback/ringback/services/media-gateway/telephony"
)

// Port is the gateway as the media-gateway service uses it: the service's
// telephony.Dialer, whose calls are telephony.Calls. What else the service
// may use (Bye, Cancel, Keep, SetRegistry) comes with the embedded Gateway.
type Port struct{ *Gateway }

var (
	_ telephony.Dialer = Port{}
	_ telephony.Legs   = Port{}
	_ telephony.Call   = (*Call)(nil)
)

// Dial is Gateway.Dial as a telephony.Dialer.
func (p Port) Dial(ctx context.Context, id, agentURI, number string, report func(Progress)) (telephony.Call, error) {
	return callOrNil(p.Gateway.Dial(ctx, id, agentURI, number, report))
}

// DialContactFirst is Gateway.DialContactFirst as a telephony.Dialer.
func (p Port) DialContactFirst(ctx context.Context, id, agentURI, number string, report func(Progress)) (telephony.Call, error) {
	return callOrNil(p.Gateway.DialContactFirst(ctx, id, agentURI, number, report))
}

// ContactAddress is the URI the contact's INVITE goes to.
func (p Port) ContactAddress(number string) string {
	u := p.trunkURI(number)
	return u.String()
}

// callOrNil keeps "no call" a nil interface, not a nil *Call in one.
func callOrNil(c *Call, err error) (telephony.Call, error) {
	if c == nil {
		return nil, err
	}
	return c, err
}
