package mediagateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ringback/ringback/libs/lifecycle"
	"github.com/ringback/ringback/services/media-gateway/rtplink"
	"github.com/ringback/ringback/services/media-gateway/sip"
	"github.com/ringback/ringback/services/media-gateway/webphone"
)

// adapter is the telephony the service runs itself when its Deps bring no
// Dialer: the SIP gateway on Config.Listen toward Config.Trunk, and the
// browsers' phones unless they are off. The binary only names the
// addresses; what SIP needs is this service's business.
type adapter struct {
	gw     *sip.Gateway
	phones *webphone.Phones // nil: --media.webrtc-off
}

// openSIP builds (and binds) the SIP adapter from the configuration.
func openSIP(cfg Config, log *slog.Logger) (*adapter, error) {
	accounts, err := LoadAccounts(cfg.AccountsFile)
	if err != nil {
		return nil, fmt.Errorf("media-gateway: %w", err)
	}
	sc := sip.Config{Listen: cfg.Listen, Trunk: cfg.Trunk, CallerID: cfg.CallerID,
		AgentRingTimeout: cfg.AgentRingTimeout, ContactRingTimeout: cfg.ContactRingTimeout,
		KeepAlive: cfg.TrunkKeepAlive, Accounts: accounts,
		TrunkUser: cfg.TrunkUser, TrunkPassword: cfg.TrunkPassword,
		SessionExpires: cfg.SessionExpires, MinSE: cfg.MinSE}
	if err := cfg.SIP.Apply(&sc, cfg.Listen); err != nil {
		return nil, err
	}
	a := &adapter{}
	if !cfg.Phone.Off { // the browsers' phones (issue 15)
		// The browsers' phones are in this process: their legs' RTP need
		// not cross loopback UDP.
		links := rtplink.NewRegistry()
		wc := cfg.Phone.WebPhoneConfig(sc.AgentRingTimeout)
		wc.Links = links
		if a.phones, err = webphone.New(wc, log.With("component", "webphone")); err != nil {
			return nil, fmt.Errorf("media-gateway: %w", err)
		}
		sc.WebPhones, sc.Links = a.phones.Addr(), a.phones.Links()
	}
	if a.gw, err = sip.New(sc, log.With("component", "sip")); err != nil {
		a.close()
		return nil, fmt.Errorf("media-gateway: sip: %w", err)
	}
	return a, nil
}

// run runs the adapter beside the service's own run, until ctx is done or
// one of them fails. The gateway outlives ctx while the service drains
// (the service holds it with Keep), so calls are hung up on a live stack.
func (a *adapter) run(ctx context.Context, service lifecycle.Loop) error {
	loops := []lifecycle.Loop{service, a.gw.Run}
	if a.phones != nil {
		loops = append(loops, a.phones.Run)
	}
	return lifecycle.Run(ctx, loops...)
}

// close releases what openSIP bound, for a service that never ran.
func (a *adapter) close() {
	// Nothing ran: the failed start is the error to report, not these.
	if a.gw != nil {
		_ = a.gw.Close()
	}
	if a.phones != nil {
		_ = a.phones.Close()
	}
}
