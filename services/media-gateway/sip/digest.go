package sip

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// Server-side digest authentication for REGISTER (RFC 3261 22.4 on RFC 2617,
// algorithms of RFC 8760), with qop=auth so that every nonce is used with an
// increasing count. The algorithms challenged are the account's
// (accounts.go): MD5 alone unless the account or the realm's default says
// SHA-256 too, then SHA-256 first.
//
// sipgo leaves this to us (DESIGN.md 3): unknown users and wrong passwords
// get the same 401 after the same work, a nonce is ours only while we hold
// it (bounded, with an expiry), a nonce count never goes back, and failures
// are counted per account and source (lockout.go), once per attempt.

const (
	digestRealm = "ringback"
	nonceTTL    = 5 * time.Minute
	// maxNonces bounds the nonces held: a flood of unauthenticated
	// REGISTERs must not grow memory. The oldest give way first.
	maxNonces = 10000
)

func digestHash(alg string) (func() hash.Hash, bool) {
	switch strings.ToUpper(alg) {
	case "SHA-256":
		return sha256.New, true
	case "MD5", "":
		return md5.New, true
	}
	return nil, false
}

func hashHex(h func() hash.Hash, parts ...string) string {
	w := h()
	w.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(w.Sum(nil))
}

// credentials are the parameters of an Authorization: Digest header.
type credentials struct {
	username, realm, nonce, uri, response string
	algorithm, qop, nc, cnonce, opaque    string
}

// parseCredentials reads `Digest k=v, k="v", ...` (RFC 2617 3.2.2).
func parseCredentials(h string) (credentials, error) {
	var c credentials
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return c, errors.New("not a digest")
	}
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			return c, errors.New("parameter without value")
		}
		key = strings.ToLower(strings.TrimSpace(key))
		after = strings.TrimLeft(after, " \t")
		var val string
		if strings.HasPrefix(after, `"`) {
			end := 1
			var b strings.Builder
			for ; end < len(after) && after[end] != '"'; end++ {
				if after[end] == '\\' && end+1 < len(after) {
					end++
				}
				b.WriteByte(after[end])
			}
			if end >= len(after) {
				return c, errors.New("unterminated quoted string")
			}
			val, rest = b.String(), after[end+1:]
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
			rest = "," + rest
		}
		if _, dup := params[key]; dup {
			return c, fmt.Errorf("parameter %s twice", key)
		}
		params[key] = val
		rest = strings.TrimSpace(rest)
		if rest != "" && rest[0] != ',' {
			return c, errors.New("missing comma")
		}
		rest = strings.TrimSpace(strings.TrimPrefix(rest, ","))
	}
	c = credentials{
		username: params["username"], realm: params["realm"], nonce: params["nonce"],
		uri: params["uri"], response: params["response"], algorithm: params["algorithm"],
		qop: params["qop"], nc: params["nc"], cnonce: params["cnonce"], opaque: params["opaque"],
	}
	if c.username == "" || c.nonce == "" || c.uri == "" || c.response == "" {
		return c, errors.New("missing username, nonce, uri or response")
	}
	return c, nil
}

// authResult is what a REGISTER's credentials are worth.
type authResult int

const (
	authFailed authResult = iota // wrong user, password, realm, uri...: counts as a failure
	authStale                    // right password, but a nonce we no longer hold or a count replayed
	authOK
)

type nonceState struct {
	issued time.Time
	nc     uint64 // highest count used
	// failed are the responses that failed with this nonce: the same one
	// again is the same attempt resent, not another guess.
	failed []string
}

// maxFailedPerNonce bounds nonceState.failed; past it every failure counts.
const maxFailedPerNonce = 4

// newNonceLocked returns a fresh nonce; r.mu is held.
func (r *registrar) newNonceLocked(now time.Time) string {
	if len(r.nonces) >= maxNonces {
		for n, st := range r.nonces {
			if now.Sub(st.issued) > nonceTTL {
				delete(r.nonces, n)
			}
		}
		for n := range r.nonces { // still full: random eviction
			if len(r.nonces) < maxNonces {
				break
			}
			delete(r.nonces, n)
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	r.nonces[nonce] = &nonceState{issued: now}
	return nonce
}

// challenge is the 401 for req, one WWW-Authenticate per algorithm in algs
// (RFC 8760 order): the same for an unknown user as for an account with the
// realm's default algorithms.
func (r *registrar) challenge(req *sipgosip.Request, algs []string, stale bool, now time.Time) *sipgosip.Response {
	r.mu.Lock()
	nonce := r.newNonceLocked(now)
	r.mu.Unlock()
	res := sipgosip.NewResponseFromRequest(req, sipgosip.StatusUnauthorized, "Unauthorized", nil)
	for _, alg := range algs {
		v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, digestRealm, nonce, alg)
		if stale {
			v += ", stale=true"
		}
		res.AppendHeader(sipgosip.NewHeader("WWW-Authenticate", v))
	}
	return res
}

// verify checks credentials for a REGISTER of aor (the To user). The
// response is computed, and compared in constant time, whether the user
// exists or not.
func (r *registrar) verify(req *sipgosip.Request, c credentials, aor string, now time.Time) authResult {
	newHash, algOK := digestHash(c.algorithm)
	if !algOK {
		newHash = md5.New // same work as a known algorithm
	}
	alg := strings.ToUpper(c.algorithm)
	if alg == "" {
		alg = AlgorithmMD5 // RFC 2617 3.2.2: absent means MD5
	}
	// Only an algorithm we challenged this account with: an account set to
	// SHA-256 alone is not to be answered in MD5.
	algOK = algOK && slices.Contains(r.algorithms(aor), alg)
	account, known := r.accounts[c.username]
	password := account.Password
	if !known {
		password = r.decoy
	}
	ha1 := hashHex(newHash, c.username, c.realm, password)
	ha2 := hashHex(newHash, string(req.Method), c.uri)
	want := hashHex(newHash, ha1, c.nonce, c.nc, c.cnonce, c.qop, ha2)
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.response))) == 1

	nc, ncErr := strconv.ParseUint(c.nc, 16, 64)
	if !match || !known || !algOK || c.username != aor || c.realm != digestRealm ||
		!strings.EqualFold(c.qop, "auth") || c.cnonce == "" || len(c.nc) != 8 || ncErr != nil || nc == 0 ||
		!sameURI(c.uri, req.Recipient) {
		return authFailed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.nonces[c.nonce]
	if !ok || now.Sub(st.issued) > nonceTTL || nc <= st.nc {
		return authStale
	}
	st.nc = nc
	return authOK
}

// firstFailure reports whether a failed attempt counts: not when the same
// response already failed with the same nonce we hold (the attempt resent in
// a new transaction). A nonce we do not hold, or credentials we could not
// parse, always count: a guesser cannot reuse one nonce to go uncounted,
// since each guess is a different response.
func (r *registrar) firstFailure(c credentials, parsed bool) bool {
	if !parsed {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.nonces[c.nonce]
	if !ok {
		return true
	}
	resp := strings.ToLower(c.response)
	if slices.Contains(st.failed, resp) {
		return false
	}
	if len(st.failed) < maxFailedPerNonce {
		st.failed = append(st.failed, resp)
	}
	return true
}

// sameURI: the digest's uri must be the request's (RFC 2617 3.2.2.5), or
// credentials for one server could be replayed to another.
func sameURI(digestURI string, reqURI sipgosip.Uri) bool {
	var u sipgosip.Uri
	if err := sipgosip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.Addr(), reqURI.Addr())
}
