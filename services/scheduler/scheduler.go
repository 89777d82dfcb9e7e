// Package scheduler owns when a callback falls due: it learns requests and
// cancellations from intake's topic, fixes each callback's due time (the
// visitor's wish, never in the past, inside the service's office hours) in
// stream scheduler-callback-<id>, and writes CallbackDue once that time comes,
// for the router. It must not import another service.
package scheduler

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // office-hours zones resolve on machines without a zoneinfo

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/availability"
	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/inbox"
	"github.com/ringback/ringback/libs/readmodel"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

// HandlerName is scheduler's consumer group; never renamed.
const HandlerName = "scheduler"

// Config of scheduler.
type Config struct {
	// OfficeHours per service, as given on the command line; see
	// RegisterFlags for the format.
	OfficeHours string
	// CallingWindow per service, as given on the command line; see
	// RegisterFlags for the format.
	CallingWindow string
	// ServiceSet is the binary's --services file, loaded: with it, each
	// service's hours, window, TTL and retries come from the file, and
	// --scheduler.office-hours must not be given.
	ServiceSet *serviceconf.Set
	// WindowGiven: --scheduler.calling-window was set (or --demo set it),
	// so it overrides the file's windows for every service.
	WindowGiven bool
	// AgentsFile is the binary's --agents: with it, a schedule is read only
	// by the agent who accepted the callback; "" is an open platform.
	AgentsFile string
}

// anyService is the office-hours entry for services without their own.
const anyService = "*"

// RegisterFlags registers scheduler's flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.OfficeHours, "scheduler.office-hours", "",
		"office hours per service: a callback due outside them is moved to the next opening. "+
			`Entries "SERVICE=WINDOWS [ZONE]" separated by ";"; WINDOWS are "DAYS HH:MM-HH:MM" separated by ",", `+
			"DAYS a day (Mon..Sun) or a range (Mon-Fri, Fri-Mon), 24:00 closes at midnight; ZONE an IANA zone, default UTC; "+
			`SERVICE "*" applies to services not listed. `+
			`E.g. "support=Mon-Fri 08:00-20:00, Sat 09:00-12:00 Europe/Paris;sales=Mon-Fri 09:00-18:00 America/New_York". `+
			"Empty (the default): every service is always open, so nothing is delayed unless configured")
	fs.StringVar(&c.CallingWindow, "scheduler.calling-window", DefaultCallingWindow,
		"calling window in the contact's local time (the zone the web form's browser gives, else the number's zones, all of them): "+
			"a callback due outside it is moved to its next opening, and its history says so; both it and the office hours must hold. "+
			`"HH:MM-HH:MM" for every service, or entries "SERVICE=HH:MM-HH:MM" separated by ";" ("*" or no SERVICE: the others), `+
			`e.g. "08:00-21:00;sales=09:00-20:00". "00:00-24:00" (or "off") is always open: for tests and demos, never for dialling real people`)
}

// DefaultCallingWindow is the calling window unless configured.
const DefaultCallingWindow = "08:00-21:00"

// callingWindows maps a service to its window; a service not listed uses
// the "*" entry, else the default.
type callingWindows map[string]callwindow.Window

func (c callingWindows) of(service string) callwindow.Window {
	if w, ok := c[service]; ok {
		return w
	}
	if w, ok := c[anyService]; ok {
		return w
	}
	return callwindow.Default
}

func parseCallingWindows(s string) (callingWindows, error) {
	out := callingWindows{}
	for entry := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		service, spec, ok := strings.Cut(entry, "=")
		if !ok {
			service, spec = anyService, entry
		}
		service = strings.TrimSpace(service)
		if service == "" {
			return nil, fmt.Errorf("scheduler.calling-window: %q: want SERVICE=HH:MM-HH:MM", entry)
		}
		if _, dup := out[service]; dup {
			return nil, fmt.Errorf("scheduler.calling-window: service %q given twice", service)
		}
		w, err := callwindow.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("scheduler.calling-window: service %q: %w", service, err)
		}
		out[service] = w
	}
	return out, nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.ServiceSet != nil && strings.TrimSpace(c.OfficeHours) != "" {
		return errors.New("scheduler.office-hours is replaced by office_hours in the services file (--services): give one or the other")
	}
	if _, err := parseOfficeHours(c.OfficeHours); err != nil {
		return err
	}
	_, err := parseCallingWindows(c.CallingWindow)
	return err
}

// officeHours maps a service to its hours; a service not listed uses the
// "*" entry, else is always open.
type officeHours map[string]schedule.Hours

func (o officeHours) of(service string) schedule.Hours {
	if h, ok := o[service]; ok {
		return h
	}
	return o[anyService]
}

func parseOfficeHours(s string) (officeHours, error) {
	out := officeHours{}
	for entry := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		service, spec, ok := strings.Cut(entry, "=")
		service = strings.TrimSpace(service)
		if !ok || service == "" {
			return nil, fmt.Errorf("scheduler.office-hours: %q: want SERVICE=WINDOWS [ZONE]", entry)
		}
		if _, dup := out[service]; dup {
			return nil, fmt.Errorf("scheduler.office-hours: service %q given twice", service)
		}
		h, err := schedule.ParseHours(spec, time.LoadLocation)
		if err != nil {
			return nil, fmt.Errorf("scheduler.office-hours: service %q: %w", service, err)
		}
		out[service] = h
	}
	return out, nil
}

// Deps are what scheduler is given: the skeleton's (libs/service).
type Deps = service.Deps

// Service is scheduler.
type Service struct {
	deps     Deps
	hours    officeHours
	windows  callingWindows
	services *serviceconf.Set
	// windowFromFlag: the calling window comes from the flag, not the file.
	windowFromFlag bool
	pending        *pending
	// bookings count the places held per bucket (availability); places
	// say which to release (bookings.go).
	bookings *availability.Bookings
	places   *places
	// expiring are the callbacks whose time to live runs.
	expiring *expiring
	proj     *readmodel.Projection
	fired    prometheus.Counter
	expired  prometheus.Counter
	agents   *agentauth.Directory // nil: open, no authentication
}

// New builds scheduler and registers its routes.
func New(cfg Config, deps Deps) (*Service, error) {
	hours, err := parseOfficeHours(cfg.OfficeHours)
	if err != nil {
		return nil, err
	}
	windows, err := parseCallingWindows(cfg.CallingWindow)
	if err != nil {
		return nil, err
	}
	agents, err := deps.Agents(cfg.AgentsFile)
	if err != nil {
		return nil, err
	}
	s := &Service{deps: deps, hours: hours, windows: windows, services: cfg.ServiceSet,
		windowFromFlag: cfg.ServiceSet == nil || cfg.WindowGiven, pending: newPending(), agents: agents}
	s.expiring = newExpiring()
	s.bookings, s.places = availability.NewBookings(), newPlaces(s.bucketEnd)
	s.proj = &readmodel.Projection{Prefixes: []string{schedule.StreamPrefix, availability.StreamPrefix},
		Apply: func(r eventstore.RecordedEvent, e proto.Message) {
			if strings.HasPrefix(r.Stream, availability.StreamPrefix) {
				s.applyBookings(r, e)
				return
			}
			s.applySchedule(r, e)
			s.expiring.apply(r, e)
		}}
	s.fired = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_callbacks_fired_total",
		Help: "Callbacks that fell due (CallbackDue written) and went to the router."})
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ringback_callbacks_pending",
		Help: "Callbacks scheduled and waiting for their due time."}, func() float64 { return float64(s.pending.len()) })
	s.expired = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringback_callbacks_expired_total",
		Help: "Callbacks not connected within their time to live (CallbackExpired, FAIL_EXPIRED)."})
	if err := deps.Register("scheduler", s.fired, s.expired, gauge); err != nil {
		return nil, err
	}
	s.routes(deps.Mux)
	return s, nil
}

// service is the configuration of a service: the services file's, with the
// older flags where no file is given.
func (s *Service) service(name string) serviceconf.Service {
	svc := s.services.Of(name)
	if s.services == nil {
		svc.Hours = s.hours.of(name)
	}
	if s.windowFromFlag {
		svc.Window = s.windows.of(name)
	}
	return svc
}

// Ready says whether the service's read model has caught up with the
// store, for /readyz: a replica serves only once its view is whole.
func (s *Service) Ready() error { return s.proj.Ready() }

// Run folds scheduler's streams, consumes the bus and fires due callbacks
// until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return s.deps.Run(ctx, s.proj, inbox.Config{Name: HandlerName, Topics: Topics, Only: Only}, s.handle, s.timer, s.releaser)
}

var aggregate = eventstore.Aggregate[schedule.State]{Evolve: schedule.Evolve}

// execute runs a command against a callback's schedule stream and counts the
// callbacks it made due.
func (s *Service) execute(ctx context.Context, id string, cause eventstore.Cause, cmd schedule.Command) (eventstore.Outcome[schedule.State], error) {
	out, err := eventstore.Execute(ctx, s.deps.Store, schedule.Stream(id), aggregate, cause,
		func(st schedule.State) ([]proto.Message, error) { return schedule.Decide(st, cmd) })
	s.countFired(out)
	return out, err
}

// errStale: the schedule moved between the read a command was built from
// and its append.
var errStale = errors.New("schedule changed since read")

// maxRebuilds bounds executeWithPlace's rounds: each is a conflict with
// another writer of one callback's schedule, of which there are few.
const maxRebuilds = 10

// executeWithPlace runs a command that takes a place in a capacity bucket
// before the schedule names it (issue 13: no load-compute-execute). mk
// builds the command from the schedule as read, and takes its place for
// the due time the domain gives it; the command is then appended guarded
// by that read's revision. When another writer moved the schedule
// meanwhile, the whole round runs again from the new state, so the
// command, its place and its append all come from one read. A place taken
// in a round that lost is given back by the releaser (bookings.go) once
// the schedule names another bucket, and taking the same one again is a
// no-op (the cause is the same).
func (s *Service) executeWithPlace(ctx context.Context, id string, cause eventstore.Cause,
	mk func(context.Context, schedule.State) (schedule.Command, error)) error {
	stream := schedule.Stream(id)
	for round := 1; ; round++ {
		l, err := eventstore.Load(ctx, s.deps.Store, stream, aggregate)
		if err != nil {
			return err
		}
		cmd, err := mk(ctx, l.State)
		if err != nil || cmd == nil {
			return err
		}
		decided := false
		out, err := eventstore.ExecuteFrom(ctx, s.deps.Store, l, stream, aggregate, cause,
			func(st schedule.State) ([]proto.Message, error) {
				if decided {
					return nil, errStale // a conflict: st is not what cmd was built from
				}
				decided = true
				return schedule.Decide(st, cmd)
			})
		if errors.Is(err, errStale) && round < maxRebuilds {
			continue
		}
		s.countFired(out)
		return err
	}
}

func (s *Service) countFired(out eventstore.Outcome[schedule.State]) {
	for _, e := range out.Events {
		if _, ok := e.(*callbackv1.CallbackDue); ok {
			s.fired.Inc()
		}
	}
}
