package intake

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/selflink"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
)

// The visitor's self-service link (issue 12): the create answer carries a
// signed, expiring token (libs/selflink) that lets its holder see,
// reschedule or cancel that one callback through /v1/self/{token}, and the
// page /callback/manage#<token> does it in the browser. The token is the
// credential: the routes are open to everyone, and nothing is stored, so
// any replica with the same keys answers. A forged token or one of a key no
// longer listed is a 403, an expired one a 410, and neither changes
// anything.

// linkFlags registers the flags of the self-service links and the form.
func (c *Config) linkFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.LinkKeysFile, "intake.link-keys", "",
		"file of self-service link keys, one kid:secret a line (secret at least 32 bytes), the last line the newest: it signs, the others and the key derived from --personal.secret-file still verify. Empty: the derived key signs")
	fs.DurationVar(&c.LinkTTL, "intake.link-ttl", 0,
		"how long a self-service link is valid from the request; 0: until the callback's expiry, the service's time_to_live past the later of its request and its wished time")
	fs.StringVar(&c.Consent, "intake.consent", DefaultConsent,
		"the consent text the web form shows beside the checkbox a visitor must tick before asking for a call")
}

// DefaultConsent is the form's consent text unless --intake.consent says.
const DefaultConsent = "I agree to be called back at this number about my request. My number and details are kept only to handle it."

// linkKeys is the key set that signs and checks links: the keys file's
// newest signs, its older ones and the key derived from the operator's
// secret verify (so links survive moving to a keys file). Nil: no secret
// and no file, so no links (warned).
func (c *Config) linkKeys(log *slog.Logger) (*selflink.Keys, error) {
	var keys []selflink.Key
	if c.LinkKeysFile != "" {
		b, err := os.ReadFile(c.LinkKeysFile)
		if err != nil {
			return nil, fmt.Errorf("intake.link-keys: %w", err)
		}
		if keys, err = selflink.ParseFile(string(b)); err != nil {
			return nil, fmt.Errorf("intake.link-keys %s: %w", c.LinkKeysFile, err)
		}
	}
	if c.LinkKey != nil {
		keys = append(keys, *c.LinkKey)
	}
	if len(keys) == 0 {
		log.Warn("callbacks are answered without a self-service link: set --personal.secret-file or --intake.link-keys")
		return nil, nil
	}
	k, err := selflink.NewKeys(keys[0], keys[1:]...)
	if err != nil {
		return nil, fmt.Errorf("intake.link-keys: %w", err)
	}
	return k, nil
}

// ManagePath is the page a self-service link opens; the token follows in
// the fragment, which the browser sends to no server.
const ManagePath = "/callback/manage"

// selfLink is the link in a create answer.
type selfLink struct {
	URL       string    `json:"url"` // ManagePath#token, on the API's origin
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// linkFor signs the link of st; nil when links are off.
func (s *Service) linkFor(st callback.State) *selfLink {
	if s.links == nil || !st.Exists {
		return nil
	}
	exp := s.linkExpiry(st)
	tok := s.links.Sign(st.ID, exp)
	return &selfLink{URL: ManagePath + "#" + tok, Token: tok, ExpiresAt: exp}
}

// linkExpiry: --intake.link-ttl from the request, else the callback's own
// expiry, counted from its wished time when that is later, so a callback
// booked days ahead can be managed until it is called. Deterministic, so a
// retried POST answers the same link.
func (s *Service) linkExpiry(st callback.State) time.Time {
	from := st.Request.GetRequestedAt().AsTime()
	if s.cfg.LinkTTL > 0 {
		return from.Add(s.cfg.LinkTTL).Truncate(time.Second)
	}
	// The wish as it stands: a callback moved later lives longer.
	if st.Desired.After(from) {
		from = st.Desired
	}
	return from.Add(s.cfg.ServiceSet.Of(st.Request.GetService()).TTL).Truncate(time.Second)
}

func (s *Service) selfRoutes() []agentauth.Route {
	return []agentauth.Route{
		// The token is the credential: whoever holds it, signed in or not.
		{Pattern: "GET /v1/self/{token}", Roles: agentauth.Everyone, Handle: s.selfGet},
		{Pattern: "PUT /v1/self/{token}", Roles: agentauth.Everyone, Handle: s.selfReschedule},
		{Pattern: "DELETE /v1/self/{token}", Roles: agentauth.Everyone, Handle: s.selfCancel},
	}
}

// selfView is what the link shows: what the visitor gave and where the
// callback stands, nothing an agent or the site added.
type selfView struct {
	ID           string     `json:"id"`
	State        string     `json:"state"`
	Service      string     `json:"service"`
	PhoneNumber  string     `json:"phone_number"`
	ContactName  string     `json:"contact_name,omitempty"`
	Subject      string     `json:"subject,omitempty"`
	Timezone     string     `json:"timezone,omitempty"`
	DesiredTime  *time.Time `json:"desired_time,omitempty"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	// Changeable: not yet being handled nor final, so it may be moved or
	// cancelled.
	Changeable    bool      `json:"changeable"`
	LinkExpiresAt time.Time `json:"link_expires_at"`
	// ASAP: the callback may be moved to "as soon as possible" now
	// (PUT {"asap": true}): it is changeable, booked for later, and its
	// service's office hours are open, as the form offers it.
	ASAP bool `json:"asap"`
	// MovePending: the visitor moved it as it was being offered to
	// agents, and the router has not said yet whether the move came
	// first (a 202 to the move). Not pending any more, the state says:
	// IN_PROGRESS if an agent took it first, else the new time.
	MovePending bool `json:"move_pending,omitempty"`
}

func (s *Service) selfPresent(st callback.State, exp time.Time) selfView {
	v := present(st)
	return selfView{ID: v.ID, State: v.State, Service: v.Service, PhoneNumber: v.PhoneNumber, ContactName: v.ContactName,
		Subject: v.Subject, Timezone: st.Request.GetTimezone(), DesiredTime: v.DesiredTime, ScheduledFor: v.ScheduledFor,
		Reason: v.Reason, Changeable: changeable(st), LinkExpiresAt: exp, ASAP: s.asapOpen(st) == nil, MovePending: st.MoveAsked}
}

// asapOpen says why a callback cannot be moved to as soon as possible, or
// nil: changeable, booked for later (not waiting already), and its
// service open now.
func (s *Service) asapOpen(st callback.State) error {
	if !changeable(st) {
		return notChangeable(st)
	}
	if st.Status != callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED {
		return httpx.Conflict("this callback already waits for the next free agent")
	}
	if !s.cfg.ServiceSet.Of(st.Request.GetService()).Hours.Open(s.deps.Clock.Now()) {
		p := httpx.Conflict("the service is closed now: choose a time")
		p.Field = "asap"
		return p
	}
	return nil
}

func changeable(st callback.State) bool {
	return st.Open() && st.Status != callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS
}

// gone is the 410 of an expired link.
func gone(detail string) error {
	return &httpx.Problem{Type: "about:blank", Title: http.StatusText(http.StatusGone), Status: http.StatusGone, Detail: detail}
}

// selfCallback checks the token and loads its callback.
func (s *Service) selfCallback(r *http.Request) (callback.State, selflink.Claims, error) {
	if s.links == nil {
		return callback.State{}, selflink.Claims{}, httpx.NotFound("self-service links are not enabled on this platform")
	}
	now := s.deps.Clock.Now()
	c, err := s.links.Verify(r.PathValue("token"), now)
	switch {
	case errors.Is(err, selflink.ErrExpired) && s.cfg.LinkTTL == 0:
		// Signed by us for this callback, issued with the expiry its
		// callback had then: a callback moved later since lives longer,
		// and its link with it (the link's life is the callback's, unless
		// --intake.link-ttl bounds it).
		st, lerr := s.Callback(r.Context(), c.Callback)
		if lerr != nil || !now.Before(s.linkExpiry(st)) {
			return callback.State{}, c, gone("this link has expired")
		}
		c.Expires = s.linkExpiry(st)
		return st, c, nil
	case errors.Is(err, selflink.ErrExpired):
		return callback.State{}, c, gone("this link has expired")
	case err != nil:
		p := httpx.Forbidden("this link is not valid: use the link you were given, complete")
		p.Field = "token"
		return callback.State{}, c, p
	}
	st, err := s.Callback(r.Context(), c.Callback)
	return st, c, err
}

func (s *Service) selfGet(w http.ResponseWriter, r *http.Request) error {
	st, c, err := s.selfCallback(r)
	if err != nil {
		return err
	}
	noStore(w)
	httpx.WriteJSON(w, http.StatusOK, s.selfPresent(st, c.Expires))
	return nil
}

// notChangeable is the 409 of a callback an agent is handling or that is over.
func notChangeable(st callback.State) error {
	if st.Status == callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS {
		return httpx.Conflict("an agent is handling this callback: it can no longer be changed")
	}
	return httpx.Conflict("this callback is already " + strings.ToLower(strings.TrimPrefix(st.Status.String(), "CALLBACK_STATE_")))
}

func (s *Service) selfReschedule(w http.ResponseWriter, r *http.Request) error {
	st, c, err := s.selfCallback(r) // a bad link is a 403 whatever the body
	if err != nil {
		return err
	}
	var req struct {
		rescheduleRequest      // {"desired_time": ...}, as PUT /v1/callbacks/{id}
		ASAP              bool `json:"asap"` // or as soon as possible
	}
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ASAP {
		if req.DesiredTime != "" {
			return httpx.BadField("asap", "give asap or desired_time, not both")
		}
		if err := s.asapOpen(st); err != nil {
			return err
		}
		out, err := s.RescheduleCallback(r.Context(), st.ID, s.deps.Clock.Now(), "", "moved to as soon as possible by the visitor through their link")
		return s.selfMoved(w, out, c, err)
	}
	if req.DesiredTime == "" {
		return httpx.BadField("desired_time", "is required: the new time to be called, RFC 3339")
	}
	desired, err := httpx.ParseTime("desired_time", req.DesiredTime)
	if err != nil {
		return err
	}
	if !changeable(st) {
		return notChangeable(st)
	}
	out, err := s.RescheduleCallback(r.Context(), st.ID, desired, "", "moved by the visitor through their link")
	return s.selfMoved(w, out, c, err)
}

// selfMoved answers a visitor's move: 200 moved, 202 while the router has
// not decided between it and an agent (the page asks again), or the
// refusal, such as the 409 of an agent who took the callback first.
func (s *Service) selfMoved(w http.ResponseWriter, out callback.State, c selflink.Claims, err error) error {
	status, err := moveStatus(err)
	if err != nil {
		return err
	}
	noStore(w)
	httpx.WriteJSON(w, status, s.selfPresent(out, c.Expires))
	return nil
}

func (s *Service) selfCancel(w http.ResponseWriter, r *http.Request) error {
	st, c, err := s.selfCallback(r)
	if err != nil {
		return err
	}
	if !changeable(st) {
		return notChangeable(st)
	}
	out, err := s.CancelCallback(r.Context(), st.ID, callback.Cancel{At: s.deps.Clock.Now(), Reason: "cancelled by the visitor through their link"})
	if err != nil {
		return err
	}
	noStore(w)
	httpx.WriteJSON(w, http.StatusOK, s.selfPresent(out, c.Expires))
	return nil
}

// noStore keeps a holder's answers out of shared caches.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}
