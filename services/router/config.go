package router

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/services/router/queue"
)

// Config of the router.
type Config struct {
	// OfferTimeout is how long an agent has to accept or reject an offer
	// before it goes to another agent, for services without their own.
	OfferTimeout time.Duration
	// ServiceOfferTimeouts override OfferTimeout per service; the older
	// spelling of offer-timeout in Services, kept so existing flags still work.
	ServiceOfferTimeouts Timeouts
	// Services are the routing rules of the configured services.
	Services Services
	// AgingStep raises a waiting callback's priority by one per step.
	AgingStep time.Duration
	// MissedOffersNotReady is how many offers in a row an agent may miss
	// before the router stops offering to them.
	MissedOffersNotReady int
	// DispatchBatch bounds the actions the dispatcher decides at once and
	// writes concurrently.
	DispatchBatch int
	// LeaseTTL is how long the dispatcher lease lasts unrenewed: the time a
	// standby waits before taking over from a leader that died.
	LeaseTTL time.Duration
	// InstanceID names this replica as the lease's holder; empty: random.
	InstanceID string
	// ServiceSet is the binary's --services file, loaded: with it, the
	// routing of services comes from the file and --router.services and
	// --router.service-offer-timeouts must not be given.
	ServiceSet *serviceconf.Set
	// AgentsFile is the binary's --agents: with it, the queues are shown to
	// agents only; "" is an open platform.
	AgentsFile string
}

// RegisterFlags registers the router's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.OfferTimeout, "router.offer-timeout", 15*time.Second,
		"time an agent has to accept or reject an offered callback before it is redirected; "+
			"15s lets an agent read the preview without leaving the visitor waiting long")
	c.ServiceOfferTimeouts = Timeouts{}
	fs.Var(&c.ServiceOfferTimeouts, "router.service-offer-timeouts",
		"offer timeouts of particular services overriding --router.offer-timeout, as service=duration,... (e.g. sales=30s); "+
			"the same as offer-timeout in --router.services")
	c.Services = Services{}
	fs.Var(&c.Services, "router.services",
		"routing of services, as name=attr;attr;...;name=attr;... (repeatable). Attributes: "+
			"skills:SKILL[>=LEVEL],... (the agent needs every skill, at LEVEL 1..10, default 1); "+
			"priority:N (0..1000, higher is offered first, default 0); "+
			"offer-timeout:DURATION (default --router.offer-timeout). "+
			"E.g. 'support=skills:billing>=3,english;priority:5;offer-timeout:15s;support-vip=skills:english;priority:9'. "+
			"A service not listed needs no skills, has priority 0 and the default timeout")
	fs.DurationVar(&c.AgingStep, "router.aging-step", 30*time.Second,
		"waiting time that raises a callback's priority by one (continuously: 15s is half a step), so low-priority "+
			"callbacks are not starved by a stream of higher ones; 30s makes a 5-minute wait worth 10 priority levels; 0 disables aging")
	fs.IntVar(&c.MissedOffersNotReady, "router.missed-offers-not-ready", 2,
		"offers in a row an agent may let time out before the router stops offering to them and asks agent-session "+
			"to set them Not Ready \"Missed offer\"; 2 tolerates one slip; 0 disables")
	fs.IntVar(&c.DispatchBatch, "router.dispatch-batch", 64,
		"offers and timeouts the dispatcher decides at once and writes concurrently; concurrent appends share one "+
			"fsync, so a burst of due callbacks costs a few syncs, not one per offer; 1 writes one at a time")
	fs.DurationVar(&c.LeaseTTL, "router.lease-ttl", 3*time.Second,
		"life of the dispatcher lease unrenewed (renewed every third of it): one router replica dispatches, the others "+
			"take over this long after it dies; 3s keeps a takeover under 5s without renewing more than once a second")
	fs.StringVar(&c.InstanceID, "router.instance-id", "",
		"name of this replica as holder of the dispatcher lease, e.g. the pod name; empty: a random id")
}

// Bounds of the configuration. An offer nobody answers for longer than
// maxOfferTimeout keeps a visitor waiting for an agent who is not there;
// aging slower than maxAgingStep is no aging.
const (
	maxOfferTimeout = 10 * time.Minute
	maxAgingStep    = 24 * time.Hour
	maxMissedOffers = 100
	maxBatch        = 1024
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.OfferTimeout <= 0 || c.OfferTimeout > maxOfferTimeout {
		return fmt.Errorf("router.offer-timeout: %s is not within (0, %s]", c.OfferTimeout, maxOfferTimeout)
	}
	if c.ServiceSet != nil && (len(c.Services) > 0 || len(c.ServiceOfferTimeouts) > 0) {
		return errors.New("router.services and router.service-offer-timeouts are replaced by skills, priority and " +
			"offer_timeout in the services file (--services): give one or the other")
	}
	for _, svc := range slices.Sorted(maps.Keys(c.ServiceOfferTimeouts)) {
		d := c.ServiceOfferTimeouts[svc]
		if d <= 0 || d > maxOfferTimeout {
			return fmt.Errorf("router.service-offer-timeouts: %s=%s is not within (0, %s]", svc, d, maxOfferTimeout)
		}
		if s, ok := c.Services[svc]; ok && s.OfferTimeout != 0 && s.OfferTimeout != d {
			return fmt.Errorf("router.service-offer-timeouts: %s=%s contradicts offer-timeout:%s in router.services", svc, d, s.OfferTimeout)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Services)) {
		if err := validService(name, c.Services[name]); err != nil {
			return fmt.Errorf("router.services: %w", err)
		}
	}
	if c.AgingStep < 0 || c.AgingStep > maxAgingStep {
		return fmt.Errorf("router.aging-step: %s is not within [0, %s]", c.AgingStep, maxAgingStep)
	}
	if c.LeaseTTL < 300*time.Millisecond || c.LeaseTTL > time.Minute {
		return fmt.Errorf("router.lease-ttl: %s is not within [300ms, 1m]", c.LeaseTTL)
	}
	if c.DispatchBatch < 1 || c.DispatchBatch > maxBatch {
		return fmt.Errorf("router.dispatch-batch: %d is not within [1, %d]", c.DispatchBatch, maxBatch)
	}
	if c.MissedOffersNotReady < 0 || c.MissedOffersNotReady > maxMissedOffers {
		return fmt.Errorf("router.missed-offers-not-ready: %d is not within [0, %d]", c.MissedOffersNotReady, maxMissedOffers)
	}
	return nil
}

func validService(name string, s queue.Service) error {
	if !serviceName.MatchString(name) {
		return fmt.Errorf("service %q: must be lower-case letters, digits and dashes, at most 63", name)
	}
	for _, skill := range slices.Sorted(maps.Keys(s.Skills)) {
		if !skillName.MatchString(skill) {
			return fmt.Errorf("service %s: skill %q: must be letters, digits, '_', '.' or '-', at most 64", name, skill)
		}
		if l := s.Skills[skill]; l < queue.MinSkillLevel || l > queue.MaxSkillLevel {
			return fmt.Errorf("service %s: skill %s level %d is not within [%d, %d]", name, skill, l, queue.MinSkillLevel, queue.MaxSkillLevel)
		}
	}
	if s.Priority < 0 || s.Priority > queue.MaxPriority {
		return fmt.Errorf("service %s: priority %d is not within [0, %d]", name, s.Priority, queue.MaxPriority)
	}
	if s.OfferTimeout < 0 || s.OfferTimeout > maxOfferTimeout {
		return fmt.Errorf("service %s: offer-timeout %s is not within (0, %s]", name, s.OfferTimeout, maxOfferTimeout)
	}
	return nil
}

// Rules are the routing rules the configuration makes.
func (c *Config) Rules() queue.Rules {
	if c.ServiceSet != nil {
		svcs := map[string]queue.Service{}
		for _, name := range append(c.ServiceSet.Names(), serviceconf.Any) {
			s := c.ServiceSet.Of(name)
			svcs[name] = queue.Service{Skills: s.Skills, Priority: s.Priority, OfferTimeout: s.OfferTimeout}
		}
		return queue.Rules{Services: svcs, OfferTimeout: c.OfferTimeout, AgingStep: c.AgingStep,
			MissedOffers: c.MissedOffersNotReady}
	}
	svcs := make(map[string]queue.Service, len(c.Services)+len(c.ServiceOfferTimeouts))
	maps.Copy(svcs, c.Services)
	for name, d := range c.ServiceOfferTimeouts {
		s := svcs[name]
		if s.OfferTimeout == 0 {
			s.OfferTimeout = d
		}
		svcs[name] = s
	}
	return queue.Rules{Services: svcs, OfferTimeout: c.OfferTimeout, AgingStep: c.AgingStep,
		MissedOffers: c.MissedOffersNotReady}
}

// Timeouts are offer timeouts by service; a flag.Value.
type Timeouts map[string]time.Duration

func (t Timeouts) String() string {
	parts := make([]string, 0, len(t))
	for svc, d := range t {
		parts = append(parts, svc+"="+d.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Set parses service=duration,... and adds them.
func (t Timeouts) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		svc, ds, ok := strings.Cut(part, "=")
		if !ok || svc == "" {
			return fmt.Errorf("%q: want service=duration", part)
		}
		d, err := time.ParseDuration(ds)
		if err != nil {
			return fmt.Errorf("%q: %w", part, err)
		}
		t[svc] = d
	}
	return nil
}

// Services are the routing rules by service; a flag.Value.
type Services map[string]queue.Service

var (
	// serviceName is the form intake accepts for a service.
	serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	skillName   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// serviceStart is a part that names the service its attributes are for.
	serviceStart = regexp.MustCompile(`^\s*([a-z0-9][a-z0-9-]*)\s*=(.*)$`)
)

func (s Services) String() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(s)) {
		svc := s[name]
		attrs := []string{"priority:" + strconv.Itoa(svc.Priority)}
		if len(svc.Skills) > 0 {
			var sk []string
			for _, k := range slices.Sorted(maps.Keys(svc.Skills)) {
				sk = append(sk, fmt.Sprintf("%s>=%d", k, svc.Skills[k]))
			}
			attrs = append(attrs, "skills:"+strings.Join(sk, ","))
		}
		if svc.OfferTimeout != 0 {
			attrs = append(attrs, "offer-timeout:"+svc.OfferTimeout.String())
		}
		parts = append(parts, name+"="+strings.Join(attrs, ";"))
	}
	return strings.Join(parts, ";")
}

// Set parses name=attr;attr;...;name=attr;... and adds the services. A part
// that starts with a service name and '=' starts a service; the others are
// attributes of the service before them.
func (s Services) Set(v string) error {
	var (
		name string
		cur  queue.Service
		seen = map[string]bool{}
	)
	flush := func() error {
		if name == "" {
			return nil
		}
		if _, dup := s[name]; dup {
			return fmt.Errorf("service %s: given twice", name)
		}
		s[name] = cur
		return nil
	}
	for part := range strings.SplitSeq(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if m := serviceStart.FindStringSubmatch(part); m != nil {
			if err := flush(); err != nil {
				return err
			}
			name, cur, seen = m[1], queue.Service{}, map[string]bool{}
			part = m[2]
			if strings.TrimSpace(part) == "" {
				continue
			}
		}
		if name == "" {
			return fmt.Errorf("%q: want name=attribute before attributes", part)
		}
		key, val, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return fmt.Errorf("service %s: %q: want key:value", name, part)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if seen[key] {
			return fmt.Errorf("service %s: %s given twice", name, key)
		}
		seen[key] = true
		if err := setAttr(&cur, key, val); err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for n, svc := range s {
		if err := validService(n, svc); err != nil {
			return err
		}
	}
	return nil
}

func setAttr(s *queue.Service, key, val string) error {
	switch key {
	case "skills":
		s.Skills = map[string]int32{}
		for sk := range strings.SplitSeq(val, ",") {
			if sk = strings.TrimSpace(sk); sk == "" {
				continue
			}
			level := int32(queue.MinSkillLevel)
			if n, ls, ok := strings.Cut(sk, ">="); ok {
				l, err := strconv.ParseInt(strings.TrimSpace(ls), 10, 32)
				if err != nil {
					return fmt.Errorf("skill %q: level: %w", sk, err)
				}
				sk, level = strings.TrimSpace(n), int32(l)
			}
			if _, dup := s.Skills[sk]; dup {
				return fmt.Errorf("skill %s given twice", sk)
			}
			s.Skills[sk] = level
		}
	case "priority":
		p, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("priority: %w", err)
		}
		s.Priority = p
	case "offer-timeout":
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("offer-timeout: %w", err)
		}
		if d <= 0 {
			return fmt.Errorf("offer-timeout: %s is not positive", d)
		}
		s.OfferTimeout = d
	default:
		return fmt.Errorf("unknown attribute %q (want skills, priority or offer-timeout)", key)
	}
	return nil
}
