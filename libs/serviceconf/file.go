package serviceconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/callwindow"
	"github.com/ringback/ringback/libs/officehours"
)

// fileDoc is the services file as written (docs/services.md).
type fileDoc struct {
	Services map[string]serviceDoc `json:"services"`
}

type serviceDoc struct {
	Skills        map[string]int32 `json:"skills"`
	Priority      *int             `json:"priority"`
	OfferTimeout  *span            `json:"offer_timeout"`
	OfficeHours   *hoursDoc        `json:"office_hours"`
	CallingWindow *string          `json:"calling_window"`
	Capacity      *capacityDoc     `json:"capacity"`
	BookAhead     *span            `json:"book_ahead"`
	TimeToLive    *span            `json:"time_to_live"`
	Retry         *retryDoc        `json:"retry"`
	PersonalWait  *span            `json:"personal_wait"`
	PreferredWait *span            `json:"preferred_wait"`
	Consent       *string          `json:"consent"`
	Responses     []responseDoc    `json:"responses"`
	Conference    *conferenceDoc   `json:"conference"`
	abuseDoc                       // abuse.go
}

type conferenceDoc struct {
	AgentMayLeave *bool `json:"agent_may_leave"`
}

type hoursDoc struct {
	Zone        string              `json:"zone"`
	Open        []string            `json:"open"`
	Holidays    []string            `json:"holidays"`
	SpecialDays map[string][]string `json:"special_days"`
}

type capacityDoc struct {
	Bucket    span           `json:"bucket"`
	PerBucket int            `json:"per_bucket"`
	Weekdays  map[string]int `json:"weekdays"`
	WhenFull  string         `json:"when_full"`
}

type retryDoc struct {
	Busy         *policyDoc           `json:"busy"`
	NoAnswer     *policyDoc           `json:"no_answer"`
	Failed       *policyDoc           `json:"failed"`
	Dispositions map[string]policyDoc `json:"dispositions"`
}

type policyDoc struct {
	Attempts int      `json:"attempts"`
	Delay    span     `json:"delay"`
	Backoff  *float64 `json:"backoff"`
	MaxDelay span     `json:"max_delay"`
	Then     string   `json:"then"`
}

// span is a duration written "90s", "15m", "2h" or "14d".
type span time.Duration

func (s *span) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New(`a duration is a string such as "15m", "2h" or "14d"`)
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return fmt.Errorf("duration %q: want a number of days such as \"14d\"", v)
		}
		*s = span(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("duration %q: want \"15m\", \"2h\" or \"14d\"", v)
	}
	*s = span(d)
	return nil
}

// Bounds of the file's values.
const (
	maxPriority     = 1000
	maxOfferTimeout = 10 * time.Minute
	maxAttempts     = 20
	maxBookAhead    = 366 * 24 * time.Hour
	maxCapacity     = 100000
)

var weekdayNames = map[string]time.Weekday{"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday}

// resolve is the service the entry describes on top of base (the "*"
// entry or the defaults); errors name the field.
func (d serviceDoc) resolve(base Service, loadLocation func(string) (*time.Location, error)) (Service, error) {
	s := base
	s.Skills = maps.Clone(base.Skills)
	if d.Skills != nil {
		s.Skills = map[string]int32{}
		for _, skill := range slices.Sorted(maps.Keys(d.Skills)) {
			l := d.Skills[skill]
			if !skillName(skill) {
				return s, fmt.Errorf("skills: %q: letters, digits, '_', '.' or '-', at most 64", skill)
			}
			if l < 1 || l > 10 {
				return s, fmt.Errorf("skills.%s: level %d is not within 1..10", skill, l)
			}
			s.Skills[skill] = l
		}
	}
	if d.Priority != nil {
		if *d.Priority < 0 || *d.Priority > maxPriority {
			return s, fmt.Errorf("priority: %d is not within 0..%d", *d.Priority, maxPriority)
		}
		s.Priority = *d.Priority
	}
	if d.OfferTimeout != nil {
		if t := time.Duration(*d.OfferTimeout); t <= 0 || t > maxOfferTimeout {
			return s, fmt.Errorf("offer_timeout: %s is not within (0, %s]", t, maxOfferTimeout)
		}
		s.OfferTimeout = time.Duration(*d.OfferTimeout)
	}
	if d.OfficeHours != nil {
		h, err := d.OfficeHours.resolve(loadLocation)
		if err != nil {
			return s, fmt.Errorf("office_hours.%w", err)
		}
		s.Hours = h
	}
	if d.CallingWindow != nil {
		w, err := callwindow.Parse(*d.CallingWindow)
		if err != nil {
			return s, fmt.Errorf("calling_window: %w", err)
		}
		s.Window = w
	}
	if d.Capacity != nil {
		c, err := d.Capacity.resolve()
		if err != nil {
			return s, fmt.Errorf("capacity.%w", err)
		}
		s.Capacity = c
	}
	if d.BookAhead != nil {
		if b := time.Duration(*d.BookAhead); b <= 0 || b > maxBookAhead {
			return s, fmt.Errorf("book_ahead: %s is not within (0, 366d]", b)
		}
		s.BookAhead = time.Duration(*d.BookAhead)
	}
	if d.TimeToLive != nil {
		if t := time.Duration(*d.TimeToLive); t < time.Minute {
			return s, fmt.Errorf("time_to_live: %s is shorter than a minute", t)
		}
		s.TTL = time.Duration(*d.TimeToLive)
	}
	if d.Retry != nil {
		r, err := d.Retry.resolve(base.Retry)
		if err != nil {
			return s, fmt.Errorf("retry.%w", err)
		}
		s.Retry = r
	}
	for _, w := range []struct {
		name string
		in   *span
		out  *time.Duration
	}{{"personal_wait", d.PersonalWait, &s.PersonalWait}, {"preferred_wait", d.PreferredWait, &s.PreferredWait}} {
		if w.in != nil {
			if time.Duration(*w.in) > 7*24*time.Hour {
				return s, fmt.Errorf("%s: %s is longer than 7d", w.name, time.Duration(*w.in))
			}
			*w.out = time.Duration(*w.in)
		}
	}
	if d.Consent != nil {
		c := strings.TrimSpace(*d.Consent)
		if c == "" || len(c) > maxConsent {
			return s, fmt.Errorf("consent: the text a visitor agrees to is 1..%d characters", maxConsent)
		}
		s.Consent = c
	}
	responses, err := resolveResponses(base.Responses, d.Responses)
	if err != nil {
		return s, err
	}
	s.Responses = responses
	if d.Conference != nil && d.Conference.AgentMayLeave != nil {
		s.Conference.AgentMayLeave = *d.Conference.AgentMayLeave
	}
	return d.abuseDoc.resolve(s)
}

func skillName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

func (d hoursDoc) resolve(loadLocation func(string) (*time.Location, error)) (officehours.Hours, error) {
	var h officehours.Hours
	if len(d.Open) > 0 {
		spec := strings.Join(d.Open, ", ")
		if d.Zone != "" {
			spec += " " + d.Zone
		}
		parsed, err := officehours.ParseHours(spec, loadLocation)
		if err != nil {
			return h, fmt.Errorf("open: %w", err)
		}
		h = parsed
	}
	if d.Zone != "" && h.Loc == nil {
		loc, err := loadLocation(d.Zone)
		if err != nil {
			return h, fmt.Errorf("zone: %q: %w", d.Zone, err)
		}
		h.Loc = loc
	}
	if d.Zone == "" && (len(d.Open) > 0 || len(d.Holidays) > 0 || len(d.SpecialDays) > 0) {
		// Hours without a zone are a trap across DST and for distant
		// planners: say it rather than guess UTC.
		return h, errors.New("zone: required with open, holidays or special_days (an IANA zone such as Europe/Paris)")
	}
	for i, s := range d.Holidays {
		day, err := officehours.ParseDate(s)
		if err != nil {
			return h, fmt.Errorf("holidays[%d]: %w", i, err)
		}
		if h.Holidays == nil {
			h.Holidays = map[officehours.Date]bool{}
		}
		h.Holidays[day] = true
	}
	for _, s := range slices.Sorted(maps.Keys(d.SpecialDays)) {
		day, err := officehours.ParseDate(s)
		if err != nil {
			return h, fmt.Errorf("special_days: %w", err)
		}
		if h.Holidays[day] {
			return h, fmt.Errorf("special_days.%s: also a holiday", s)
		}
		spans := []officehours.Span{}
		for i, r := range d.SpecialDays[s] {
			sp, err := officehours.ParseSpan(r)
			if err != nil {
				return h, fmt.Errorf("special_days.%s[%d]: %w", s, i, err)
			}
			spans = append(spans, sp)
		}
		slices.SortFunc(spans, func(a, b officehours.Span) int { return int(a.Open - b.Open) })
		if h.Special == nil {
			h.Special = map[officehours.Date][]officehours.Span{}
		}
		h.Special[day] = spans
	}
	return h, nil
}

func (d capacityDoc) resolve() (*Capacity, error) {
	b := time.Duration(d.Bucket)
	if b < 5*time.Minute || b > 120*time.Minute || (24*time.Hour)%b != 0 || b%time.Minute != 0 {
		return nil, fmt.Errorf("bucket: %s: want whole minutes from 5m to 120m that divide a day (5m, 10m, 15m, 30m, 60m, 120m…)", b)
	}
	if d.PerBucket < 0 || d.PerBucket > maxCapacity {
		return nil, fmt.Errorf("per_bucket: %d is not within 0..%d", d.PerBucket, maxCapacity)
	}
	c := &Capacity{Bucket: b}
	for i := range c.PerBucket {
		c.PerBucket[i] = d.PerBucket
	}
	for _, name := range slices.Sorted(maps.Keys(d.Weekdays)) {
		wd, ok := weekdayNames[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("weekdays.%s: want mon, tue, wed, thu, fri, sat or sun", name)
		}
		n := d.Weekdays[name]
		if n < 0 || n > maxCapacity {
			return nil, fmt.Errorf("weekdays.%s: %d is not within 0..%d", name, n, maxCapacity)
		}
		c.PerBucket[wd] = n
	}
	switch d.WhenFull {
	case "", "refuse":
	case "move":
		c.Move = true
	default:
		return nil, fmt.Errorf("when_full: %q: want refuse or move", d.WhenFull)
	}
	return c, nil
}

func (d retryDoc) resolve(base Retry) (Retry, error) {
	r := Retry{Outcomes: maps.Clone(base.Outcomes), Dispositions: maps.Clone(base.Dispositions)}
	if r.Outcomes == nil {
		r.Outcomes = map[Outcome]Policy{}
	}
	for _, o := range []struct {
		name Outcome
		doc  *policyDoc
	}{{Busy, d.Busy}, {NoAnswer, d.NoAnswer}, {Failed, d.Failed}} {
		if o.doc == nil {
			continue
		}
		p, err := o.doc.resolve()
		if err != nil {
			return r, fmt.Errorf("%s.%w", o.name, err)
		}
		r.Outcomes[o.name] = p
	}
	if d.Dispositions != nil {
		r.Dispositions = map[string]Policy{}
		for _, code := range slices.Sorted(maps.Keys(d.Dispositions)) {
			p, err := d.Dispositions[code].resolve()
			if err != nil {
				return r, fmt.Errorf("dispositions.%s.%w", code, err)
			}
			if p.Then == ThenAgent {
				return r, fmt.Errorf("dispositions.%s.then: a disposition ends the interaction, so only scheduler", code)
			}
			r.Dispositions[code] = p
		}
	}
	return r, nil
}

func (d policyDoc) resolve() (Policy, error) {
	p := Policy{Attempts: d.Attempts, Delay: time.Duration(d.Delay), Backoff: 1, MaxDelay: time.Duration(d.MaxDelay)}
	if p.Attempts < 1 || p.Attempts > maxAttempts {
		return p, fmt.Errorf("attempts: %d is not within 1..%d (1: never again)", p.Attempts, maxAttempts)
	}
	if d.Backoff != nil {
		if b := *d.Backoff; b < 1 || b > 10 || math.IsNaN(b) {
			return p, fmt.Errorf("backoff: %g is not within 1..10 (1: a fixed delay)", b)
		}
		p.Backoff = *d.Backoff
	}
	if p.Attempts > 1 && p.Delay < time.Minute && d.Then != string(ThenAgent) {
		return p, fmt.Errorf("delay: %s: the scheduler waits at least 1m before another attempt", p.Delay)
	}
	if p.MaxDelay != 0 && p.MaxDelay < p.Delay {
		return p, fmt.Errorf("max_delay: %s is shorter than delay %s", p.MaxDelay, p.Delay)
	}
	switch Then(d.Then) {
	case "", ThenScheduler:
		p.Then = ThenScheduler
	case ThenAgent:
		p.Then = ThenAgent
	default:
		return p, fmt.Errorf("then: %q: want scheduler or agent", d.Then)
	}
	return p, nil
}
