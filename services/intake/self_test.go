package intake

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/selflink"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/serviceconf"
	"github.com/ringback/ringback/libs/servicetest"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"
)

var testLinkKey = selflink.Key{ID: "t1", Secret: bytes.Repeat([]byte{7}, 32)}

func startLinks(t *testing.T, cfg Config) *servicetest.Env {
	t.Helper()
	env := servicetest.New(t)
	cfg.RefuseDuplicates = true
	s, err := New(cfg, Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log, Metrics: env.Registry, Mux: env.Mux}})
	if err != nil {
		t.Fatal(err)
	}
	env.Go(s.Run)
	env.Relay(Topics...)
	return env
}

// book asks for a callback in two hours and returns it with its link.
func book(t *testing.T, env *servicetest.Env, phone string) callbackView {
	t.Helper()
	var cb callbackView
	res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": phone, "subject": "Billing",
		"contact_name": "Ada", "case_data": map[string]string{"crm": "7"},
		"desired_time": servicetest.Start.Add(2 * time.Hour).Format(time.RFC3339)}, &cb)
	if res.StatusCode != http.StatusCreated || cb.SelfService == nil {
		t.Fatalf("POST: %d %+v", res.StatusCode, cb)
	}
	return cb
}

func TestCreateAnswerCarriesTheLink(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey})
	body := map[string]any{"service": "support", "phone_number": "+14155550123",
		"desired_time": servicetest.Start.Add(2 * time.Hour).Format(time.RFC3339)}
	var first, again callbackView
	key := map[string]string{"Idempotency-Key": "k-1"}
	if res := env.DoWith("POST", "/v1/callbacks", key, body, &first); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	l := first.SelfService
	if l == nil || l.URL != ManagePath+"#"+l.Token || !strings.HasPrefix(l.Token, "t1."+first.ID+".") {
		t.Fatalf("link %+v", l)
	}
	// Until the callback's expiry: the service's time to live (72 h by
	// default) past its wished time.
	if want := servicetest.Start.Add(2*time.Hour + 72*time.Hour).Truncate(time.Second); !l.ExpiresAt.Equal(want) {
		t.Errorf("expires %s, want %s", l.ExpiresAt, want)
	}
	if res := env.DoWith("POST", "/v1/callbacks", key, body, &again); res.StatusCode != http.StatusOK || again.SelfService == nil || again.SelfService.Token != l.Token {
		t.Fatalf("retried POST: %d %+v, want the same link", res.StatusCode, again.SelfService)
	}

	// --intake.link-ttl instead.
	env2 := startLinks(t, Config{LinkKey: &testLinkKey, LinkTTL: time.Hour})
	var cb callbackView
	env2.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, &cb)
	if want := servicetest.Start.Add(time.Hour).Truncate(time.Second); cb.SelfService == nil || !cb.SelfService.ExpiresAt.Equal(want) {
		t.Errorf("with a link TTL of 1h: %+v, want expiry %s", cb.SelfService, want)
	}

	// Without a key, no link and no self-service.
	env3 := startLinks(t, Config{})
	var none callbackView
	env3.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, &none)
	if none.ID == "" || none.SelfService != nil {
		t.Errorf("without keys: %+v, want no link", none)
	}
	if res := env3.Do("GET", "/v1/self/"+l.Token, nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("self-service without keys: %d, want 404", res.StatusCode)
	}
}

func TestSelfServiceShowsAndCancelsItsOwnCallbackOnly(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey})
	mine, other := book(t, env, "+14155550123"), book(t, env, "+14155550124")
	var v selfView
	res := env.Do("GET", "/v1/self/"+mine.SelfService.Token, nil, &v)
	if res.StatusCode != 200 || v.ID != mine.ID || v.PhoneNumber != "+14155550123" || v.ContactName != "Ada" ||
		v.Subject != "Billing" || v.State != "SCHEDULED" || !v.Changeable || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d %+v", res.StatusCode, v)
	}
	raw := env.Do("GET", "/v1/self/"+mine.SelfService.Token, nil, nil)
	b, _ := io.ReadAll(raw.Body)
	if strings.Contains(string(b), "crm") {
		t.Errorf("the link shows the site's case data: %s", b)
	}
	// Reschedule: a bad time names the field and changes nothing; a good
	// one moves this callback only.
	before := env.Stored()
	var p problem
	for _, bad := range []any{map[string]any{"desired_time": "tomorrow"}, map[string]any{},
		map[string]any{"desired_time": servicetest.Start.Add(-time.Hour).Format(time.RFC3339)}} {
		if res := env.Do("PUT", "/v1/self/"+mine.SelfService.Token, bad, &p); res.StatusCode != http.StatusBadRequest || p.Field != "desired_time" {
			t.Errorf("PUT %v: %d %+v", bad, res.StatusCode, p)
		}
	}
	if n := env.Stored(); n != before {
		t.Fatalf("refused reschedules stored %d events", n-before)
	}
	moved := servicetest.Start.Add(5 * time.Hour)
	if res := env.Do("PUT", "/v1/self/"+mine.SelfService.Token, map[string]any{"desired_time": moved.Format(time.RFC3339)}, &v); res.StatusCode != 200 ||
		v.DesiredTime == nil || !v.DesiredTime.Equal(moved) || v.State != "SCHEDULED" {
		t.Fatalf("PUT: %d %+v", res.StatusCode, v)
	}
	var o callbackView
	env.Do("GET", "/v1/callbacks/"+other.ID, nil, &o)
	if o.DesiredTime == nil || o.DesiredTime.Equal(moved) {
		t.Fatalf("the other callback moved too: %+v", o)
	}
	if res := env.Do("DELETE", "/v1/self/"+mine.SelfService.Token, nil, &v); res.StatusCode != 200 || v.State != "CANCELLED" || v.Changeable {
		t.Fatalf("DELETE: %d %+v", res.StatusCode, v)
	}
	env.Do("GET", "/v1/callbacks/"+other.ID, nil, &o)
	if o.State != "SCHEDULED" {
		t.Fatalf("the other callback is %s: a link acts on its own callback only", o.State)
	}
	// Final: 409 for both changes, nothing stored.
	before = env.Stored()
	for _, m := range []string{"DELETE", "PUT"} {
		res := env.Do(m, "/v1/self/"+mine.SelfService.Token, map[string]any{"desired_time": servicetest.Start.Add(3 * time.Hour).Format(time.RFC3339)}, &p)
		if m == "DELETE" {
			res = env.Do(m, "/v1/self/"+mine.SelfService.Token, nil, &p)
		}
		if res.StatusCode != http.StatusConflict {
			t.Errorf("%s on a cancelled callback: %d %+v", m, res.StatusCode, p)
		}
	}
	if n := env.Stored(); n != before {
		t.Fatalf("refused changes stored %d events", n-before)
	}
	// The number is free again.
	if res := env.Do("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123"}, nil); res.StatusCode != http.StatusCreated {
		t.Fatalf("after the visitor cancelled: %d", res.StatusCode)
	}
}

// TestBadLinksChangeNothing: forged, of another callback, of an unknown
// key: 403; expired: 410; in every case, for each method, nothing stored.
func TestBadLinksChangeNothing(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey, LinkTTL: time.Hour})
	mine, other := book(t, env, "+14155550123"), book(t, env, "+14155550124")
	tok := mine.SelfService.Token
	parts := strings.Split(tok, ".")
	stranger, _ := selflink.NewKeys(selflink.Key{ID: "t9", Secret: bytes.Repeat([]byte{9}, 32)})
	flipped := []byte(tok)
	flipped[len(flipped)-2] ^= 1
	later := servicetest.Start.Add(48 * time.Hour).Unix()
	cases := []struct {
		name, token string
		want        int
	}{
		{"tampered signature", string(flipped), 403},
		{"tampered expiry", strings.Join([]string{parts[0], parts[1], itoa(later), parts[3]}, "."), 403},
		{"another callback's id", strings.Join([]string{parts[0], other.ID, parts[2], parts[3]}, "."), 403},
		{"unknown key", stranger.Sign(mine.ID, servicetest.Start.Add(time.Hour)), 403},
		{"garbage", "nothing-here", 403},
	}
	check := func(name, token string, want int) {
		t.Helper()
		before := env.Stored()
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			var body any
			if m == "PUT" {
				body = map[string]any{"desired_time": servicetest.Start.Add(3 * time.Hour).Format(time.RFC3339)}
			}
			var p problem
			res := env.Do(m, "/v1/self/"+token, body, &p)
			if res.StatusCode != want || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %s answered %d %+v, want %d", name, m, res.StatusCode, p, want)
			}
		}
		if n := env.Stored(); n != before {
			t.Errorf("%s: stored %d events", name, n-before)
		}
	}
	for _, c := range cases {
		check(c.name, c.token, c.want)
	}
	env.Clock.Advance(time.Hour)
	check("expired", tok, http.StatusGone)
	check("expired and tampered", string(flipped), http.StatusForbidden)
	for _, cb := range []callbackView{mine, other} {
		var v callbackView
		env.Do("GET", "/v1/callbacks/"+cb.ID, nil, &v)
		if v.State != "SCHEDULED" {
			t.Errorf("callback %s is %s after bad links", cb.ID, v.State)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSelfServiceInProgress: once an agent has it, the link shows it but
// neither moves nor cancels it (409), and stores nothing.
func TestSelfServiceInProgress(t *testing.T) {
	env := startLinks(t, Config{LinkKey: &testLinkKey})
	cb := book(t, env, "+14155550123")
	env.AppendAs("router-offer-i1", eventstore.Cause{ID: "accept-1", Correlation: cb.ID},
		&routingv1.OfferAccepted{InteractionId: "i1", AgentId: "a1"})
	deadline := time.Now().Add(10 * time.Second)
	var v selfView
	for env.Do("GET", "/v1/self/"+cb.SelfService.Token, nil, &v); v.State != "IN_PROGRESS"; env.Do("GET", "/v1/self/"+cb.SelfService.Token, nil, &v) {
		if time.Now().After(deadline) {
			t.Fatalf("accept not folded: %+v", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v.Changeable {
		t.Errorf("in progress yet changeable: %+v", v)
	}
	before := env.Stored()
	var p problem
	if res := env.Do("DELETE", "/v1/self/"+cb.SelfService.Token, nil, &p); res.StatusCode != http.StatusConflict {
		t.Errorf("DELETE in progress: %d %+v", res.StatusCode, p)
	}
	if res := env.Do("PUT", "/v1/self/"+cb.SelfService.Token, map[string]any{"desired_time": servicetest.Start.Add(5 * time.Hour).Format(time.RFC3339)}, &p); res.StatusCode != http.StatusConflict {
		t.Errorf("PUT in progress: %d %+v", res.StatusCode, p)
	}
	if n := env.Stored(); n != before {
		t.Fatalf("refused changes stored %d events", n-before)
	}
}

// TestLinkKeysRotate: with a keys file, its newest key signs; links of the
// derived key (and of the file's older keys) still work.
func TestLinkKeysRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "link-keys")
	if err := os.WriteFile(path, []byte("old:"+strings.Repeat("o", 32)+"\nnew:"+strings.Repeat("n", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := startLinks(t, Config{LinkKey: &testLinkKey})
	cb := book(t, before, "+14155550123")
	after := startLinks(t, Config{LinkKey: &testLinkKey, LinkKeysFile: path})
	// The same store is not shared: check the keys on the new instance's
	// own callback, and the old link's signature through selflink.
	fresh := book(t, after, "+14155550123")
	if !strings.HasPrefix(fresh.SelfService.Token, "new.") {
		t.Fatalf("after rotation the link is signed with %q, want the newest key", fresh.SelfService.Token)
	}
	keys, err := (&Config{LinkKey: &testLinkKey, LinkKeysFile: path}).linkKeys(before.Log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Verify(cb.SelfService.Token, servicetest.Start); err != nil {
		t.Errorf("a link of the derived key after rotation: %v", err)
	}
	if err := os.WriteFile(path, []byte("nocolon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Config{LinkKeysFile: path}).linkKeys(before.Log); err == nil {
		t.Error("a bad keys file: want an error")
	}
}

// A visitor moves a callback booked for later to "as soon as possible"
// while the service is open; closed, the link says so and nothing changes.
func TestSelfServiceAsSoonAsPossible(t *testing.T) {
	for _, c := range []struct {
		name, hours string
		open        bool
	}{
		{"open", "Mon-Fri 08:00-20:00", true},    // the fake clock is Wednesday 09:00 UTC
		{"closed", "Sat-Sun 10:00-12:00", false}, // nobody is there on a Wednesday
	} {
		t.Run(c.name, func(t *testing.T) {
			set, err := serviceconf.Parse([]byte(`services:
  support:
    office_hours: {zone: UTC, open: ["`+c.hours+`"]}
`), time.LoadLocation)
			if err != nil {
				t.Fatal(err)
			}
			env := startLinks(t, Config{LinkKey: &testLinkKey, ServiceSet: set})
			cb := book(t, env, "+14155550142")
			var v selfView
			env.Do("GET", "/v1/self/"+cb.SelfService.Token, nil, &v)
			if v.ASAP != c.open {
				t.Fatalf("asap offered = %v, want %v", v.ASAP, c.open)
			}
			var p problem
			if res := env.Do("PUT", "/v1/self/"+cb.SelfService.Token, map[string]any{"asap": true, "desired_time": servicetest.Start.Add(3 * time.Hour).Format(time.RFC3339)}, &p); res.StatusCode != http.StatusBadRequest || p.Field != "asap" {
				t.Errorf("asap and a time: %d %+v", res.StatusCode, p)
			}
			before := env.Stored()
			res := env.Do("PUT", "/v1/self/"+cb.SelfService.Token, map[string]any{"asap": true}, &v)
			if !c.open {
				if res.StatusCode != http.StatusConflict || env.Stored() != before {
					t.Fatalf("asap while closed: %d, %d events stored", res.StatusCode, env.Stored()-before)
				}
				return
			}
			if res.StatusCode != 200 || v.DesiredTime == nil || !v.DesiredTime.Equal(servicetest.Start) {
				t.Fatalf("asap: %d %+v", res.StatusCode, v)
			}
		})
	}
}

// A link lives as long as its callback: moved later, the callback keeps
// the visitor's link working past the expiry it was issued with, to the
// callback's new expiry, and no longer.
func TestALinkFollowsItsCallbackMovedLater(t *testing.T) {
	set, err := serviceconf.Parse([]byte(`services:
  support: {time_to_live: 2h}
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	env := startLinks(t, Config{LinkKey: &testLinkKey, ServiceSet: set})
	cb := book(t, env, "+14155550143") // wished at +2h: the link expires at +4h
	if want := servicetest.Start.Add(4 * time.Hour); !cb.SelfService.ExpiresAt.Equal(want) {
		t.Fatalf("link expires %s, want %s", cb.SelfService.ExpiresAt, want)
	}
	var v selfView
	moved := servicetest.Start.Add(10 * time.Hour)
	if res := env.Do("PUT", "/v1/self/"+cb.SelfService.Token, map[string]any{"desired_time": moved.Format(time.RFC3339)}, &v); res.StatusCode != 200 {
		t.Fatalf("move: %d", res.StatusCode)
	}
	env.Clock.Advance(5 * time.Hour) // past the link's first expiry
	if res := env.Do("GET", "/v1/self/"+cb.SelfService.Token, nil, &v); res.StatusCode != 200 ||
		!v.LinkExpiresAt.Equal(moved.Add(2*time.Hour)) {
		t.Fatalf("after the first expiry: %d, link expires %s; want 200 and %s", res.StatusCode, v.LinkExpiresAt, moved.Add(2*time.Hour))
	}
	env.Clock.Advance(8 * time.Hour) // past the callback's own
	if res := env.Do("GET", "/v1/self/"+cb.SelfService.Token, nil, nil); res.StatusCode != http.StatusGone {
		t.Fatalf("after the callback's expiry: %d, want 410", res.StatusCode)
	}
}
