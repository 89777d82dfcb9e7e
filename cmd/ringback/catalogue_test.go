package main

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/eventdoc"
	"github.com/ringback/ringback/libs/eventstore"
	"github.com/ringback/ringback/libs/siptest"
)

// docs/events.md takes each event's stream from its schema's comment. This
// holds the comments to what the services do: the README's walkthrough and
// a cancel run on serve --demo, and every event they stored must be one the
// catalogue lists, on a stream of the pattern it gives (and so on its topic
// and key).
func TestCatalogueStreamsAreWhereServicesWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pkgs, err := eventdoc.Load(ctx, "../../proto")
	if err != nil {
		t.Fatal(err)
	}
	pattern := map[string]*regexp.Regexp{}
	for _, p := range pkgs {
		for _, e := range p.Events {
			pattern[string(e.Name)] = streamPattern(e.Stream)
		}
	}

	addr := freePort(t, "tcp")
	var app *App
	runInProcess(t, addr, []string{"--demo", "--http=" + addr, "--sip=" + siptest.FreeAddr(t), "--sip-trunk=" + siptest.FreeAddr(t),
		"--data=" + t.TempDir(), "--log-level=error"}, func(a *App) { app = a })
	d := demoClient{t: t, base: "http://" + addr}
	status, cb := d.call("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550123",
		"subject": "Billing", "case_data": map[string]string{"order": "A-17"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	id, _ := cb["id"].(string)
	ix := d.waitFor("routed", "/v1/callbacks/"+id, func(m map[string]any) bool { return m["interaction_id"] != nil })["interaction_id"].(string)
	d.waitFor("offered", "/v1/interactions/"+ix, func(map[string]any) bool { return true })
	for _, step := range []string{"accept", "call"} {
		if status, _ := d.call("POST", "/v1/interactions/"+ix+"/"+step, nil); status/100 != 2 {
			t.Fatalf("%s: %d", step, status)
		}
	}
	d.waitFor("Connected", "/v1/interactions/"+ix, func(m map[string]any) bool { return m["status"] == "Connected" })
	if status, _ := d.call("POST", "/v1/interactions/"+ix+"/end-call", nil); status/100 != 2 {
		t.Fatalf("end-call: %d", status)
	}
	d.waitFor("call ended", "/v1/interactions/"+ix, func(m map[string]any) bool { return m["status"] != "Connected" })
	if status, _ := d.call("PUT", "/v1/interactions/"+ix+"/disposition", map[string]string{"code": "resolved"}); status/100 != 2 {
		t.Fatalf("disposition: %d", status)
	}
	d.waitFor("disposition seen", "/v1/interactions/"+ix, func(m map[string]any) bool { return m["disposition"] != nil && m["disposition"] != "" })
	if status, _ := d.call("POST", "/v1/interactions/"+ix+"/done", nil); status/100 != 2 {
		t.Fatalf("done: %d", status)
	}
	d.waitFor("COMPLETED", "/v1/callbacks/"+id, func(m map[string]any) bool { return m["state"] == "COMPLETED" })
	// A callback booked ahead and cancelled: intake's and scheduler's other streams.
	status, cb = d.call("POST", "/v1/callbacks", map[string]any{"service": "support", "phone_number": "+14155550199",
		"desired_time": time.Now().Add(26 * time.Hour).UTC().Format(time.RFC3339)})
	if status != http.StatusCreated {
		t.Fatalf("create ahead: %d", status)
	}
	later, _ := cb["id"].(string)
	if status, _ := d.call("DELETE", "/v1/callbacks/"+later, nil); status/100 != 2 {
		t.Fatalf("cancel: %d", status)
	}
	d.waitFor("CANCELLED", "/v1/callbacks/"+later, func(m map[string]any) bool { return m["state"] == "CANCELLED" })

	head, err := app.Store.(eventstore.HeadReader).Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	errEnough := errors.New("read to head")
	err = app.Store.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, r eventstore.RecordedEvent) error {
		if !strings.HasPrefix(r.Type, "ringback.") {
			return nil // the store's own bookkeeping (checkpoints, leases), never published as events
		}
		seen[r.Type] = true
		switch re, ok := pattern[r.Type]; {
		case !ok:
			t.Errorf("%s (stream %s) is not in the catalogue", r.Type, r.Stream)
		case !re.MatchString(r.Stream):
			t.Errorf("%s is on stream %s; docs/events.md says %s", r.Type, r.Stream, re)
		}
		if !r.Position.Less(head) {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("read the store: %v", err)
	}
	t.Logf("%d of the catalogue's %d event types stored by the walkthrough and a cancel, each on its documented stream", len(seen), len(pattern))
}

// streamPattern matches the streams of a pattern such as
// scheduler-slot-<service>-<bucket start, unix seconds>.
func streamPattern(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for rest := p; rest != ""; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString(".+")
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
