package intake

// Rate limits (issue 12): token buckets per client address, per number and
// per service, in this replica's memory (libs/ratelimit). What that means
// with N replicas behind a load balancer:
//
//   - Per address: exact when the load balancer sends a client address to
//     one replica always (deploy/k8s: ingress-nginx upstream-hash-by
//     $remote_addr on the intake path). Without that affinity a client
//     gets up to N times its limit.
//   - Per service: a share. Each replica allows 1/N of the service's rate
//     and burst (--intake.replicas), so together they allow the whole.
//   - Per number: exact across replicas for the callbacks a number is
//     given. Each replica's bucket turns requests away early, and the
//     number's claim stream (admit.go, contact package), which every
//     replica appends to at the revision it read, replays the same bucket
//     from the claims it records: a callback the store accepts is within
//     the limit whichever replica took it. Requests refused for another
//     reason take nothing from that record.
//
// Buckets are per replica by nature: a replica that restarts forgets them
// and a client gets a fresh burst, no more.

import (
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/ratelimit"
)

// Limits are intake's abuse limits; the zero value limits nothing (the
// binary's flags turn them on).
type Limits struct {
	// PerAddress bounds the callback requests of one client address;
	// authenticated API clients are exempt (a site's back end sends every
	// visitor's request from one address) and meet the others.
	PerAddress ratelimit.Limit
	// PerNumber bounds the requests for one phone number, all services.
	PerNumber ratelimit.Limit
	// PerService bounds the requests of one service across all replicas;
	// the services file's rate_limit overrides it per service.
	PerService ratelimit.Limit
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed
	// (clientaddr.go).
	TrustedProxies string
	// Replicas is how many intake replicas share the per-service limits.
	Replicas int
	// MaxKeys bounds each limiter's buckets (0: ratelimit.DefaultMaxKeys).
	MaxKeys int
}

// Default limits, and why:
//
//   - Per address, 10 a minute, 5 at once: a visitor sends one form, maybe
//     twice after a typo or a double click; 5 at once covers that, and 10
//     a minute a few visitors behind one office NAT. A bot from one address
//     gets 10 a minute, each still under the per-number limit and the cap.
//   - Per number, 3 an hour: as many as the open callbacks a number may
//     have; more for one number in an hour is someone else's number being
//     used to ring it.
//   - Per service, 200 a second, 400 at once, all replicas together: far
//     above a real contact centre's demand (a busy one takes thousands a
//     day), so it bites only in a distributed flood, where it keeps the
//     store and the queues growing at a bounded pace.
var (
	DefaultPerAddress = ratelimit.Limit{Count: 10, Per: time.Minute, Burst: 5}
	DefaultPerNumber  = ratelimit.Limit{Count: 3, Per: time.Hour, Burst: 3}
	DefaultPerService = ratelimit.Limit{Count: 200, Per: time.Second, Burst: 400}
)

func (l *Limits) registerFlags(fs *flag.FlagSet) {
	l.PerAddress, l.PerNumber, l.PerService = DefaultPerAddress, DefaultPerNumber, DefaultPerService
	fs.Var(&l.PerAddress, "intake.rate-address",
		`callback requests one client address may make, as COUNT/PERIOD:BURST, or "off"; API clients are exempt. Exact across replicas only when the load balancer routes an address to one replica (README)`)
	fs.Var(&l.PerNumber, "intake.rate-number",
		`callbacks one phone number may be given (all services, all replicas together), as COUNT/PERIOD:BURST, or "off"`)
	fs.Var(&l.PerService, "intake.rate-service",
		`callback requests of one service, all replicas together (each takes 1/--intake.replicas), as COUNT/PERIOD:BURST, or "off"; the services file's rate_limit overrides it per service`)
	fs.StringVar(&l.TrustedProxies, "intake.trusted-proxies", "",
		"comma list of CIDRs of the proxies in front of intake (e.g. the ingress pods' 10.0.0.0/8): from them, the client address is the nearest untrusted hop of X-Forwarded-For; empty: the peer's address")
	fs.IntVar(&l.Replicas, "intake.replicas", 1,
		"how many intake replicas share the per-service limits (each allows 1/N); set it with the Deployment's replicas (RINGBACK_INTAKE_REPLICAS)")
}

func (l *Limits) validate() error {
	if l.Replicas < 0 || l.Replicas > 1000 { // 0: as 1; the bound keeps a period times it within a time.Duration
		return fmt.Errorf("intake.replicas: %d is not within 1..1000", l.Replicas)
	}
	if _, err := parsePrefixes(l.TrustedProxies); err != nil {
		return fmt.Errorf("intake.trusted-proxies: %w", err)
	}
	return nil
}

// share is one replica's part of a limit all replicas hold together: the
// same count over N times the period, and 1/N of the burst (at least 1).
func share(l ratelimit.Limit, replicas int) ratelimit.Limit {
	if l.Off() || replicas <= 1 {
		return l
	}
	l.Per *= time.Duration(replicas)
	l.Burst = max(1, (l.Burst+replicas-1)/replicas)
	return l
}

// limiters are the buckets of one replica.
type limiters struct {
	address, number, service *ratelimit.Limiter
	proxies                  []netip.Prefix
	refused                  *prometheus.CounterVec
}

// What a 429 says was limited (the problem's member "limit").
const (
	limitAddress = "client_address"
	limitNumber  = "phone_number"
	limitService = "service"
)

func (s *Service) newLimiters() error {
	proxies, err := parsePrefixes(s.cfg.Limits.TrustedProxies)
	if err != nil {
		return fmt.Errorf("intake.trusted-proxies: %w", err)
	}
	k := s.cfg.Limits.MaxKeys
	s.limits = limiters{address: ratelimit.New(s.deps.Clock, k), number: ratelimit.New(s.deps.Clock, k),
		service: ratelimit.New(s.deps.Clock, k), proxies: proxies,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringback_intake_rate_limited_total",
			Help: "Callback requests refused with 429, by what was limited (client_address, phone_number, service)."},
			[]string{"limit"})}
	if err := s.deps.Metrics.Register(s.limits.refused); err != nil {
		return err
	}
	for name, lm := range map[string]*ratelimit.Limiter{limitAddress: s.limits.address, limitNumber: s.limits.number, limitService: s.limits.service} {
		evicted := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ringback_intake_rate_limit_evicted_total",
			Help:        "Rate-limit buckets evicted before they had refilled (their key got a fresh burst early): more keys in use than the limiter keeps.",
			ConstLabels: prometheus.Labels{"limit": name}}, func() float64 { return float64(lm.Stats().EvictedShort) })
		if err := s.deps.Metrics.Register(evicted); err != nil {
			return err
		}
	}
	return nil
}

// admitAddress takes a token from the client address's bucket, or
// answers its 429 (with Retry-After). Every create path calls it first,
// before it decodes the body: a flood from one address is refused for the
// price of a map lookup, and garbage counts as much as a valid request.
// Authenticated API clients are exempt (a site's back end sends every
// visitor's request from its one address).
func (s *Service) admitAddress(r *http.Request) error {
	if agentauth.Who(r.Context()).Has(agentauth.RoleClient) {
		return nil
	}
	if ok, wait := s.limits.address.Allow(clientAddr(r, s.limits.proxies), s.cfg.Limits.PerAddress); !ok {
		return s.tooMany(limitAddress, "", "too many callback requests from this address", wait)
	}
	return nil
}

// admitRate takes a token from the number's and the service's buckets, in
// that order, or answers the 429 of the first that has none (with
// Retry-After). admitRequest calls it last, once the request is valid,
// before anything is read or written for it.
func (s *Service) admitRate(service, number string) error {
	if ok, wait := s.limits.number.Allow(number, s.cfg.Limits.PerNumber); !ok {
		return s.tooMany(limitNumber, "phone_number", "too many callback requests for this number", wait)
	}
	if ok, wait := s.limits.service.Allow(service, share(s.serviceRate(service), s.cfg.Limits.Replicas)); !ok {
		return s.tooMany(limitService, "service", "this service is taking too many callback requests", wait)
	}
	return nil
}

// serviceRate is the service's limit across replicas: its entry in the
// services file, else the flag.
func (s *Service) serviceRate(service string) ratelimit.Limit {
	if s.cfg.ServiceSet != nil {
		if l := s.cfg.ServiceSet.Of(service).RateLimit; l != nil {
			return *l
		}
	}
	return s.cfg.Limits.PerService
}

func (s *Service) tooMany(limit, field, detail string, wait time.Duration) error {
	s.limits.refused.WithLabelValues(limit).Inc()
	sec := ratelimit.RetryAfterSeconds(wait)
	p := httpx.TooManyFor(fmt.Sprintf("%s; try again in %d s", detail, sec), sec).With("limit", limit)
	p.Field = field
	return p
}
