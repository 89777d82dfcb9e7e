package agentauth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/ringback/ringback/libs/httpx"
)

// ClientConfig is an API client: a service account of an integration.
type ClientConfig struct {
	ID        string `json:"id"`
	Key       string `json:"key"`        // in clear, for development only
	KeySHA256 string `json:"key_sha256"` // hex SHA-256 of the key
	// Services the client may act on; required, ["*"] for every service,
	// so that a forgotten scope is an error rather than the whole site.
	Services []string `json:"services"`
}

// OperatorConfig is whoever runs the platform: metrics and admin routes.
type OperatorConfig struct {
	ID          string `json:"id"`
	Token       string `json:"token"`
	TokenSHA256 string `json:"token_sha256"`
}

// Directory is the parsed agents file: who may act, and how. A nil
// Directory is an open platform: no token is checked (development, demo).
type Directory struct {
	byID map[string]*AgentConfig
	// byHash maps the SHA-256 of every bearer credential (agent token,
	// client key, operator token) to whom it names. Looking a hash up in a
	// map tells an attacker nothing usable: they would need a preimage.
	byHash  map[[sha256.Size]byte]Principal
	session []byte // HMAC key of single sign-on sessions; nil: none accepted
}

// sameOrigin refuses cross-origin requests that change state (not GET,
// HEAD or OPTIONS); it holds no state, so one serves every Directory.
var sameOrigin = http.NewCrossOriginProtection()

var agentID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// file is the agents file as JSON.
//
//	{"agents": [...],                      // see AgentConfig
//	 "clients": [{"id": "crm", "key_sha256": "<hex>", "services": ["support"]}],
//	 "operators": [{"id": "ops", "token_sha256": "<hex>"}],
//	 "session_key_file": "/run/secrets/ringback-session-key"}
//
// Every credential is kept as its SHA-256 ("token"/"key" in clear for
// development). session_key_file holds at least 32 random bytes that sign
// the single sign-on sessions (see Session); every process of a site reads
// the same file, so a session issued by one is valid at all of them.
type file struct {
	Agents         []*AgentConfig   `json:"agents"`
	Clients        []ClientConfig   `json:"clients"`
	Operators      []OperatorConfig `json:"operators"`
	SessionKeyFile string           `json:"session_key_file"`
}

// Load reads the agents file; an empty path is an open platform (nil).
func Load(path string) (*Directory, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agents file: %w", err)
	}
	var doc file
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("agents file %s: %w", path, err)
	}
	f, err := doc.directory()
	if err != nil {
		return nil, fmt.Errorf("agents file %s: %w", path, err)
	}
	return f, nil
}

func (doc file) directory() (*Directory, error) {
	f := &Directory{byID: map[string]*AgentConfig{}, byHash: map[[sha256.Size]byte]Principal{}}
	ids := map[string]bool{}
	add := func(kind, id, clear, hashed string, p Principal) error {
		switch {
		case !ValidID(id):
			return fmt.Errorf("%s: bad id %q", kind, id)
		case ids[id]:
			// One id names one principal, so an audit line is unambiguous.
			return fmt.Errorf("%s %s: id used twice", kind, id)
		}
		ids[id] = true
		h, err := credentialHash(clear, hashed)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, id, err)
		}
		if _, dup := f.byHash[h]; dup {
			return fmt.Errorf("%s %s: its credential is another's too", kind, id)
		}
		f.byHash[h] = p
		return nil
	}
	for i, a := range doc.Agents {
		if a.AutoAnswer != nil && a.AutoAnswer.After.Duration <= 0 {
			return nil, fmt.Errorf("agent %s: auto_answer.after must be positive", a.ID)
		}
		for skill, level := range a.Skills {
			if level < 1 || level > 10 {
				return nil, fmt.Errorf("agent %s: skill %s level %d not in 1..10", a.ID, skill, level)
			}
		}
		p := Principal{ID: a.ID, Roles: RoleAgent}
		if a.Supervisor {
			p.Roles |= RoleSupervisor
			p.Services = scope(a.Services)
		}
		if err := add(fmt.Sprintf("agent %d", i), a.ID, a.Token, a.TokenSHA256, p); err != nil {
			return nil, err
		}
		a.Token = "" // only the hash stays in memory
		f.byID[a.ID] = a
	}
	for _, c := range doc.Clients {
		if len(c.Services) == 0 {
			return nil, fmt.Errorf("client %s: services is required ([\"*\"] for every service)", c.ID)
		}
		p := Principal{ID: c.ID, Roles: RoleClient, Services: scope(c.Services)}
		if err := add("client", c.ID, c.Key, c.KeySHA256, p); err != nil {
			return nil, err
		}
	}
	for _, o := range doc.Operators {
		if err := add("operator", o.ID, o.Token, o.TokenSHA256, Principal{ID: o.ID, Roles: RoleOperator}); err != nil {
			return nil, err
		}
	}
	if doc.SessionKeyFile != "" {
		key, err := os.ReadFile(doc.SessionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("session_key_file: %w", err)
		}
		if key = []byte(strings.TrimSpace(string(key))); len(key) < 32 {
			return nil, fmt.Errorf("session_key_file %s: want at least 32 bytes, got %d", doc.SessionKeyFile, len(key))
		}
		f.session = key
	}
	return f, nil
}

// scope is a service list as Principal.Services has it: nil for every
// service (absent, or "*").
func scope(services []string) []string {
	if len(services) == 0 || slices.Contains(services, "*") {
		return nil
	}
	return slices.Clone(services)
}

func credentialHash(clear, hashed string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	switch {
	case clear == "" && hashed == "":
		return h, errors.New("no token (or key)")
	case hashed != "":
		b, err := hex.DecodeString(hashed)
		if err != nil || len(b) != sha256.Size {
			return h, errors.New("token_sha256 (key_sha256) is not a hex SHA-256")
		}
		copy(h[:], b)
		return h, nil
	}
	return sha256.Sum256([]byte(clear)), nil
}

// authenticate is the principal of r's credential: a bearer token (or, on
// a GET, ?access_token=, since EventSource cannot set headers) or a single
// sign-on session cookie. Without any it is a visitor; with one that names
// nobody, errBadCredential as a 401 problem.
func (f *Directory) authenticate(r *http.Request) (Principal, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodGet {
		token = r.URL.Query().Get("access_token")
	}
	if token != "" {
		if p, ok := f.byHash[sha256.Sum256([]byte(token))]; ok {
			return p, nil
		}
		return Principal{}, credential(httpx.Unauthorized("unknown token"))
	}
	if r.Header.Get("Authorization") != "" {
		return Principal{}, credential(httpx.Unauthorized("the Authorization header must be \"Bearer <token>\""))
	}
	if c, err := r.Cookie(SessionCookie); err == nil && f.session != nil {
		// A cookie comes with every request whether or not the page meant
		// it: an expired one makes its holder a visitor again (a route for
		// agents then answers 401), rather than refusing the web form.
		if p, err := f.verifySession(c.Value); err == nil {
			// SameSite=Strict keeps other sites' pages from sending it, but
			// a sibling subdomain is the same site: a change must also come
			// from this origin (Sec-Fetch-Site, else Origin against Host).
			if err := sameOrigin.Check(r); err != nil {
				refused := httpx.Forbidden("a request from another origin may not act with the session cookie")
				refused.Field = SessionCookie
				return Principal{}, refused
			}
			return p, nil
		}
	}
	return Principal{Roles: RoleVisitor}, nil
}

// Get returns an agent's configuration, or nil (also on a nil Directory).
func (f *Directory) Get(id string) *AgentConfig {
	if f == nil {
		return nil
	}
	return f.byID[id]
}

// IsSupervisor says whether agent id is a supervisor (false on an open
// platform: nobody is).
func (f *Directory) IsSupervisor(id string) bool {
	a := f.Get(id)
	return a != nil && a.Supervisor
}

// SkillLevels returns the agent's skills (nil-safe).
func (a *AgentConfig) SkillLevels() map[string]int32 {
	if a == nil {
		return nil
	}
	return a.Skills
}

// AutoAnswerSetting returns the agent's auto-answer, or nil (nil-safe).
func (a *AgentConfig) AutoAnswerSetting() *AutoAnswer {
	if a == nil {
		return nil
	}
	return a.AutoAnswer
}

// Who is the agent a request acts as: the agent of the principal a guarded
// route found, else of the request's credential. On an open platform (nil
// Directory) it is "" and no error; a missing or unknown credential, or
// one that is not an agent's, is a 401 problem.
func (f *Directory) Who(w http.ResponseWriter, r *http.Request) (string, error) {
	if f == nil {
		return "", nil
	}
	p, ok := r.Context().Value(principalKey{}).(Principal)
	if !ok {
		var err error
		if p, err = f.authenticate(r); err != nil {
			if pr := (*httpx.Problem)(nil); errors.As(err, &pr) && pr.Status == http.StatusUnauthorized {
				challenge(w, err)
			}
			return "", err
		}
	}
	if !p.Has(RoleAgent) {
		challenge(w, nil)
		return "", credential(httpx.Unauthorized("an agent's bearer token or session is required"))
	}
	return p.ID, nil
}
