// Package serviceconf reads the services file (--services): per service, all
// that the router and the scheduler need to know of it, in one place a
// contact center's planners can read: skills and priority, office hours with
// holidays and special days, the calling window in the contact's time,
// capacity per time bucket, how far ahead a visitor may book, the time to
// live and the retry policy per outcome. YAML or JSON (YAML is a superset).
//
// Every error names the file, the service and the field at fault. Values the
// file leaves out are the documented defaults, so a service that is not in
// the file at all still has a calling window, a time to live and retries:
// the safe behaviour is on by default.
package serviceconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/officehours"
)

// Any names the entry that applies to every service not listed.
const Any = "*"

// Service is one service as the rest of the platform uses it: parsed,
// validated, defaults applied.
type Service struct {
	Name string
	// Skills an agent needs, each at a minimum level 1..10 (router).
	Skills map[string]int32
	// Priority 0..1000, higher offered first (router).
	Priority int
	// OfferTimeout is how long an offer runs; zero: the router's default.
	OfferTimeout time.Duration
	// Hours are the office hours with holidays; zero: always open.
	Hours officehours.Hours
	// Window is the calling window in the contact's local time.
	Window callwindow.Window
	// Capacity bounds the callbacks booked per time bucket; nil: unbounded.
	Capacity *Capacity
	// BookAhead is how far ahead of now a visitor may ask to be called.
	BookAhead time.Duration
	// TTL is how long a callback may wait to be connected before it
	// completes as expired, counted from its request.
	TTL time.Duration
	// Retry is what happens after a call that did not reach the contact.
	Retry Retry
	// PersonalWait is how long a personal callback waits for its agent
	// before any agent of the service may take it.
	PersonalWait time.Duration
	// PreferredWait is how long a callback naming a preferred agent waits
	// for them to be Ready before it is offered to others.
	PreferredWait time.Duration
	// Consent is the text the service's web form asks a visitor to agree
	// to; empty: the binary's (--intake.consent).
	Consent string
	// Responses are the service's Standard Response Library (responses.go).
	Responses []Response
	// Abuse is what the service admits of the public (abuse.go).
	Abuse
	// Conference is how a conference of the service's calls goes on.
	Conference Conference
}

// Conference is how a conference (agent, contact and a third party) goes
// on (media gateway).
type Conference struct {
	// AgentMayLeave: the agent hanging up leaves the contact and the party
	// talking, as a completed transfer would (the interaction goes to a
	// party agent); false, the default: the call ends for everyone.
	AgentMayLeave bool
}

// maxConsent bounds a consent text: a paragraph, not a policy.
const maxConsent = 1000

// Capacity is how many callbacks one time bucket of a service may hold.
type Capacity struct {
	Bucket time.Duration // 5m..120m, divides a day
	// PerBucket by weekday (indexed by time.Weekday): callbacks a bucket
	// starting that day may hold.
	PerBucket [7]int
	// Move: a request for a full slot is moved to the nearest free one;
	// false: refused with the nearest free slots.
	Move bool
}

// Outcome is why a call did not reach the contact.
type Outcome string

// Outcomes a retry policy is written for.
const (
	Busy     Outcome = "busy"
	NoAnswer Outcome = "no_answer"
	Failed   Outcome = "failed"
)

// Then says who makes the next attempt.
type Then string

const (
	// ThenAgent: the agent who has the interaction sees Call this contact
	// again, until the attempts are used.
	ThenAgent Then = "agent"
	// ThenScheduler: the interaction ends and the callback goes back to the
	// scheduler, due again after the delay.
	ThenScheduler Then = "scheduler"
)

// Policy is how a callback is tried again after one outcome.
type Policy struct {
	// Attempts in all, the first included: 1 means never again.
	Attempts int
	// Delay before the second attempt; each later one is Backoff times
	// the one before, at most MaxDelay.
	Delay    time.Duration
	Backoff  float64
	MaxDelay time.Duration
	Then     Then
}

// DelayBefore is the wait before attempt n (2 is the first retry).
func (p Policy) DelayBefore(n int) time.Duration {
	d := float64(p.Delay)
	for i := 2; i < n; i++ {
		d *= p.Backoff
		if p.MaxDelay > 0 && d >= float64(p.MaxDelay) {
			return p.MaxDelay
		}
	}
	if p.MaxDelay > 0 && time.Duration(d) > p.MaxDelay {
		return p.MaxDelay
	}
	return time.Duration(d)
}

// Retry is the retry policy of a service: one per outcome, and per
// disposition code that asks for another try.
type Retry struct {
	Outcomes     map[Outcome]Policy
	Dispositions map[string]Policy
}

// For is the policy after an outcome; ok false: never tried again.
func (r Retry) For(o Outcome) (Policy, bool) {
	p, ok := r.Outcomes[o]
	return p, ok && p.Attempts > 1
}

// Defaults of a service the file does not set. The retries are those a
// contact center starts from: a busy line is tried soon, a contact who did
// not answer a little later, a failed call once more; by the scheduler, so
// no agent is held waiting.
var Defaults = Service{
	Window:        callwindow.Default,
	BookAhead:     14 * 24 * time.Hour,
	TTL:           72 * time.Hour,
	PersonalWait:  30 * time.Minute,
	PreferredWait: 2 * time.Minute,
	Retry: Retry{Outcomes: map[Outcome]Policy{
		Busy:     {Attempts: 3, Delay: 5 * time.Minute, Backoff: 2, MaxDelay: time.Hour, Then: ThenScheduler},
		NoAnswer: {Attempts: 3, Delay: 15 * time.Minute, Backoff: 2, MaxDelay: 2 * time.Hour, Then: ThenScheduler},
		Failed:   {Attempts: 2, Delay: 10 * time.Minute, Backoff: 1, Then: ThenScheduler},
	}},
}

// Set is the parsed services file.
type Set struct {
	services map[string]Service
	fallback Service // the "*" entry, else Defaults
}

// Of is the configuration of a service: its entry, else the "*" entry,
// else the defaults. A nil Set is all defaults.
func (s *Set) Of(name string) Service {
	if s == nil {
		d := Defaults
		d.Name = name
		return d
	}
	if svc, ok := s.services[name]; ok {
		return svc
	}
	d := s.fallback
	d.Name = name
	return d
}

// Names are the services the file lists, sorted, without "*".
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.services))
}

// Has says whether the file lists the service.
func (s *Set) Has(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.services[name]
	return ok
}

// Load reads and validates the services file; "" is no file (nil: every
// service on the defaults).
func Load(path string) (*Set, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("services file: %w", err)
	}
	set, err := Parse(b, time.LoadLocation)
	if err != nil {
		return nil, fmt.Errorf("services file %s: %w", path, err)
	}
	return set, nil
}

// ServiceName is the form of a service name, as intake accepts it.
var ServiceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Parse reads a services file's content; zones are resolved by
// loadLocation (time.LoadLocation).
func Parse(b []byte, loadLocation func(string) (*time.Location, error)) (*Set, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	doc, err := decodeFile(j)
	if err != nil {
		return nil, err
	}
	set := &Set{services: map[string]Service{}, fallback: Defaults}
	// "*" first: the others start from it.
	if raw, ok := doc.Services[Any]; ok {
		svc, err := raw.resolve(Defaults, loadLocation)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", Any, err)
		}
		set.fallback = svc
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
		if name == Any {
			continue
		}
		if !ServiceName.MatchString(name) {
			return nil, fmt.Errorf("service %q: a name is lower-case letters, digits and dashes, at most 63", name)
		}
		svc, err := doc.Services[name].resolve(set.fallback, loadLocation)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		svc.Name = name
		set.services[name] = svc
	}
	return set, nil
}

// decodeFile decodes the file service by service, so that an unknown or
// mistyped field is named with its service.
func decodeFile(j []byte) (fileDoc, error) {
	var raw struct {
		Services map[string]json.RawMessage `json:"services"`
	}
	doc := fileDoc{Services: map[string]serviceDoc{}}
	if err := strictDecode(j, &raw); err != nil {
		return doc, fmt.Errorf("%w (fields are documented in docs/services.md)", plainJSONError(err))
	}
	if len(raw.Services) == 0 {
		return doc, errors.New(`no "services"`)
	}
	for _, name := range slices.Sorted(maps.Keys(raw.Services)) {
		var d serviceDoc
		if err := strictDecode(raw.Services[name], &d); err != nil {
			return doc, fmt.Errorf("service %q: %w (fields are documented in docs/services.md)", name, plainJSONError(err))
		}
		doc.Services[name] = d
	}
	return doc, nil
}

func strictDecode(j []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// plainJSONError names the field of a decoding error the way the file does.
func plainJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %s: %s is not a %s", strings.TrimPrefix(te.Field, "services."), te.Value, te.Type)
	}
	return err
}
