package queue

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Service is how one service's callbacks are routed.
type Service struct {
	// Skills are the skills an agent needs, each at a minimum level (1..10).
	Skills map[string]int32
	// Priority ranks the service's callbacks: higher first.
	Priority int
	// OfferTimeout is how long its offers run; zero means Rules.OfferTimeout.
	OfferTimeout time.Duration
}

// Rules configure the model. Services that are not listed need no skills,
// have priority 0 and the default offer timeout.
type Rules struct {
	Services map[string]Service
	// OfferTimeout is the default time an agent has to answer an offer.
	OfferTimeout time.Duration
	// AgingStep raises a waiting callback's priority by one per step waited,
	// so a low-priority callback is not starved by a stream of higher ones.
	// Zero disables aging.
	AgingStep time.Duration
	// MissedOffers is how many offers in a row an agent may let time out
	// before the router stops offering to them; zero disables the rule.
	MissedOffers int
}

// Limits of the rules, checked by the router's Config.Validate.
const (
	MinSkillLevel = 1
	MaxSkillLevel = 10
	MaxPriority   = 1000
)

// Any is the entry of Services for every service not listed (the services
// file's "*").
const Any = "*"

// Service is the routing of one service, defaults filled in.
func (r Rules) Service(name string) Service {
	s, ok := r.Services[name]
	if !ok {
		s = r.Services[Any]
	}
	if s.OfferTimeout == 0 {
		s.OfferTimeout = r.OfferTimeout
	}
	return s
}

// requirement is one skill an agent needs, at a minimum level.
type requirement struct {
	skill string
	level int32
}

// requirements is a service's needs in a canonical order, so services that
// need the same share one pool of agents.
func requirements(skills map[string]int32) []requirement {
	out := make([]requirement, 0, len(skills))
	for _, k := range slices.Sorted(maps.Keys(skills)) {
		out = append(out, requirement{skill: k, level: max(skills[k], MinSkillLevel)})
	}
	return out
}

func requirementsKey(rs []requirement) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s>=%d,", r.skill, r.level)
	}
	return b.String()
}

// qualifies says whether skills meet every requirement.
func qualifies(skills map[string]int32, rs []requirement) bool {
	for _, r := range rs {
		if skills[r.skill] < r.level {
			return false
		}
	}
	return true
}

// rank orders waiting callbacks: lower first. With aging, a callback of
// priority p queued at q has, at time t, the effective priority
// p + (t-q)/step; comparing two of them at any t is comparing q - p*step, so
// the order never changes while they wait and one heap holds it. Aging is
// continuous rather than in whole steps for exactly that reason; ties (equal
// effective priority) go to the callback queued first.
func (r Rules) rank(priority int, queuedAt time.Time) int64 {
	if r.AgingStep <= 0 {
		return -int64(priority)
	}
	return queuedAt.UnixNano() - int64(priority)*int64(r.AgingStep)
}
