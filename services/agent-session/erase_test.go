package agentsession

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	routingv1 "github.com/ringback/ringback/proto/ringback/routing/v1"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ringback/ringback/libs/personal"
	"github.com/ringback/ringback/libs/service"
	"github.com/ringback/ringback/libs/servicetest"
	agentv1 "github.com/ringback/ringback/proto/ringback/agent/v1"
	historyv1 "github.com/ringback/ringback/proto/ringback/history/v1"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// Once a contact is erased, the Team Communicator no longer recalls their
// number, on a replica that held it in memory as on one that starts after.
func TestTeamCommunicatorForgetsErasedNumbers(t *testing.T) {
	env := servicetest.New(t)
	keys, err := personal.OpenDir(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	master, ids, _ := personal.DeriveSecrets(bytes.Repeat([]byte("k"), 32))
	ks, _ := personal.NewWrapped(keys, master)
	sealer, err := personal.NewSealer(ks, ids)
	if err != nil {
		t.Fatal(err)
	}
	env.Store = personal.NewStore(env.Store, sealer)
	start := func(mux *http.ServeMux) {
		s, err := New(Config{CommandWait: 5 * time.Second, CallingWindow: "00:00-24:00", WindowGiven: true, ServiceSet: guideSet(t)},
			Deps{Deps: service.Deps{Store: env.Store, Subscribers: env.Subscribers(), Clock: env.Clock, Log: env.Log,
				Metrics: prometheus.NewRegistry(), Mux: mux}, ContactKeys: sealer})
		if err != nil {
			t.Fatal(err)
		}
		env.Go(s.Run)
	}
	start(env.Mux)
	env.Relay(Topics...)

	// a1 consults a number in a call with the contact to be erased, a2
	// another in a call with someone else. What is asked in an interaction
	// is sealed with its contact's key.
	const erasedContact, keptContact = "+14155550201", "+14155550202"
	const erased, kept = "+14155550101", "+14155550102"
	for _, c := range []struct{ agent, contact, number string }{{"a1", erasedContact, erased}, {"a2", keptContact, kept}} {
		iid := connectedWith(t, env, c.agent, c.contact)
		post(env, "/v1/interactions/"+iid+"/consult", map[string]string{"phone_number": c.number})
		servicetest.WaitEvent[*agentv1.ConsultRequested](env, interaction.Stream(iid))
	}
	recalls := func(url, agent string) []string {
		req, _ := http.NewRequest("GET", url+"/v1/directory", nil)
		req.Header.Set("X-Ringback-Agent", agent)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var d directoryBody
		if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&d) != nil {
			t.Fatalf("directory as %s: %d", agent, res.StatusCode)
		}
		out := []string{}
		for _, n := range d.Numbers {
			out = append(out, n.PhoneNumber)
		}
		return out
	}
	waitFor(t, "both consults recalled", func() bool {
		return slices.Equal(recalls(env.Server.URL, "a1"), []string{erased}) && slices.Equal(recalls(env.Server.URL, "a2"), []string{kept})
	})

	// What DELETE /v1/contacts/{number} does (history).
	id, err := sealer.Erase(t.Context(), erasedContact)
	if err != nil {
		t.Fatal(err)
	}
	env.Append("history-erasure-"+id, "erase-"+id, &historyv1.ContactErased{KeyId: id, By: "s1", At: timestamppb.New(env.Clock.Now())})
	waitFor(t, "the erased number forgotten", func() bool { return len(recalls(env.Server.URL, "a1")) == 0 })
	if got := recalls(env.Server.URL, "a2"); !slices.Equal(got, []string{kept}) {
		t.Errorf("a2 recalls %q, want the kept number", got)
	}

	// A replica that starts now reads the consult erased: not recalled.
	fresh := http.NewServeMux()
	start(fresh)
	later := httptest.NewServer(fresh)
	t.Cleanup(later.Close)
	waitFor(t, "a new replica's directory", func() bool { return slices.Equal(recalls(later.URL, "a2"), []string{kept}) })
	if got := recalls(later.URL, "a1"); len(got) != 0 {
		t.Errorf("a new replica recalls %q for a1, want nothing", got)
	}
}

// connectedWith is connected, with a contact of its own.
func connectedWith(t *testing.T, env *servicetest.Env, agentID, contact string) string {
	t.Helper()
	iid, _ := connectedAfter(t, env, agentID, func(iid string) {
		env.Append("router-interaction-"+iid, "offer-"+iid, &routingv1.InteractionOffered{InteractionId: iid, CallbackId: "cb-" + iid,
			AgentId: agentID, OfferId: iid + ":1", OfferedAt: timestamppb.New(servicetest.Start),
			ExpiresAt: timestamppb.New(servicetest.Start.Add(15 * time.Second)), QueuedAt: timestamppb.New(servicetest.Start),
			Request: &callbackv1.CallbackRequest{Service: "support", PhoneNumber: contact, RequestedAt: timestamppb.New(servicetest.Start)}})
	})
	return iid
}
