package intake

// Proof of work (issue 12), self-hosted and off by default: a service that
// asks for it (proof_of_work in the services file, or
// --intake.proof-of-work for all) refuses a create without a solved
// challenge. A browser solves one in about a second; a bot posting
// thousands pays thousands of seconds of CPU, a flood made expensive
// without a third party.
//
// Stateless, so any replica verifies what any other issued: a challenge
// is signed with a key derived from the claim streams' key, which every
// replica reads from the store (admit.go), and carries its service,
// difficulty and expiry. A solution is bound to the number it is sent
// with (the hash covers it), so one solution buys one number; the spent
// set that refuses its reuse is per replica (memory, pruned at expiry),
// the per-number limits and the cap bounding what a replay on another
// replica could do.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ringback/ringback/libs/agentauth"
	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/libs/serviceconf"
)

// ProofHeader carries a solution: the challenge, a space, the nonce.
const ProofHeader = "Ringback-Proof"

// challengeTTL: the form asks for a challenge when the visitor sends it,
// and solves it in a second or two; five minutes spare slow phones.
const challengeTTL = 5 * time.Minute

//go:embed pow.js
var powJS []byte

// difficulty is the leading zero bits a service's solutions need; 0: none.
func (s *Service) difficulty(service string) int {
	if s.cfg.ServiceSet != nil && s.cfg.ServiceSet.Has(service) {
		if d := s.cfg.ServiceSet.Of(service).ProofOfWork; d > 0 {
			return d
		}
	}
	return s.cfg.ProofOfWork
}

func (s *Service) powKey(ctx context.Context) ([]byte, error) {
	k, err := s.contactKey(ctx)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte("ringback proof-of-work challenge v1"))
	return m.Sum(nil), nil
}

// issueChallenge makes "v1.SERVICE.DIFFICULTY.EXPIRES.RANDOM.MAC".
func issueChallenge(key []byte, service string, difficulty int, expires time.Time) string {
	r := make([]byte, 12)
	_, _ = rand.Read(r)
	body := fmt.Sprintf("v1.%s.%d.%d.%s", service, difficulty, expires.Unix(), hex.EncodeToString(r))
	return body + "." + challengeMAC(key, body)
}

func challengeMAC(key []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Why a proof is refused.
var (
	errProofMissing = "this service asks for a proof of work: get a challenge from GET /v1/challenge and send its solution in " + ProofHeader
	errProofInvalid = "the proof of work is not valid: get a new challenge"
	errProofExpired = "the proof of work's challenge has expired: get a new one"
	errProofSpent   = "the proof of work was used already: get a new challenge"
)

// verifyProof checks a solution header for service and number at now and
// answers the challenge (the spent set's key) or why not.
func verifyProof(key []byte, header, service, number string, need int, now time.Time) (string, string) {
	if header == "" {
		return "", errProofMissing
	}
	challenge, nonce, ok := strings.Cut(header, " ")
	if !ok || len(nonce) == 0 || len(nonce) > 20 {
		return "", errProofInvalid
	}
	parts := strings.Split(challenge, ".")
	if len(parts) != 6 || parts[0] != "v1" {
		return "", errProofInvalid
	}
	body := strings.Join(parts[:5], ".")
	if !hmac.Equal([]byte(parts[5]), []byte(challengeMAC(key, body))) {
		return "", errProofInvalid
	}
	difficulty, err1 := strconv.Atoi(parts[2])
	expires, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || parts[1] != service || difficulty < need {
		return "", errProofInvalid
	}
	if !now.Before(time.Unix(expires, 0)) {
		return "", errProofExpired
	}
	if leadingZeroBits(sha256.Sum256([]byte(challenge+" "+number+" "+nonce))) < difficulty {
		return "", errProofInvalid
	}
	return challenge + " " + number, ""
}

func leadingZeroBits(h [32]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// spentSet remembers the solutions this replica accepted until their
// challenges expire.
type spentSet struct {
	mu    sync.Mutex
	seen  map[string]time.Time
	prune int // size at which to drop the expired
}

// spend records key; false if it was spent already.
func (p *spentSet) spend(key string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen, p.prune = map[string]time.Time{}, 1024
	}
	if _, ok := p.seen[key]; ok {
		return false
	}
	if len(p.seen) >= p.prune {
		for k, exp := range p.seen {
			if now.After(exp) {
				delete(p.seen, k)
			}
		}
		p.prune = max(1024, 2*len(p.seen))
	}
	p.seen[key] = now.Add(challengeTTL)
	return true
}

// checkProof refuses a create without a valid proof of work when its
// service asks for one (403, field Ringback-Proof). API clients are
// exempt: they are known by their key.
func (s *Service) checkProof(r *http.Request, service, number string) error {
	need := s.difficulty(service)
	if need == 0 || agentauth.Who(r.Context()).Has(agentauth.RoleClient) {
		return nil
	}
	key, err := s.powKey(r.Context())
	if err != nil {
		return err
	}
	now := s.deps.Clock.Now()
	spent, why := verifyProof(key, r.Header.Get(ProofHeader), service, number, need, now)
	if why == "" && !s.spent.spend(spent, now) {
		why = errProofSpent
	}
	if why != "" {
		p := httpx.Forbidden(why)
		p.Field = ProofHeader
		return p
	}
	return nil
}

// challengeView is the answer of GET /v1/challenge.
type challengeView struct {
	Challenge  string    `json:"challenge"`
	Difficulty int       `json:"difficulty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// challenge issues a challenge for ?service= (difficulty 0: none needed).
func (s *Service) challenge(w http.ResponseWriter, r *http.Request) error {
	service := r.URL.Query().Get("service")
	if !serviceconf.ServiceName.MatchString(service) {
		return httpx.BadField("service", "must be lower-case letters, digits and dashes")
	}
	if err := s.knownService(service); err != nil {
		return err
	}
	key, err := s.powKey(r.Context())
	if err != nil {
		return err
	}
	d := s.difficulty(service)
	exp := s.deps.Clock.Now().Add(challengeTTL).Truncate(time.Second)
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, challengeView{Challenge: issueChallenge(key, service, d, exp), Difficulty: d, ExpiresAt: exp.UTC()})
	return nil
}

// powScript serves the solver (pow.js) for the form.
func (s *Service) powScript(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(powJS)
	return nil
}
