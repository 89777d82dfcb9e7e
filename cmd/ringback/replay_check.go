package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/eventstore"
	agentsession "github.com/ringback/ringback/services/agent-session"
	"github.com/ringback/ringback/services/intake"
)

// checked is a kind of stream replay check compares: its fold by this
// binary's code, and the platform's route that answers it.
type checked struct {
	service string
	prefix  string
	path    string // before the id
	fold    func([]eventstore.RecordedEvent, time.Time) (any, bool)
	ignore  []string // fields not folded from the events
}

var checkedStreams = []checked{
	{"intake", intake.CallbackStreamPrefix, "/v1/callbacks/", intake.FoldCallback, nil},
	{"agent-session", agentsession.InteractionStreamPrefix, "/v1/interactions/", agentsession.FoldInteraction, agentsession.ConfiguredFields},
}

// errDiffer is check's answer when a fold and the platform disagree: exit 1.
type errDiffer struct{ n, of int }

func (e *errDiffer) Error() string {
	return fmt.Sprintf("replay check: %d of %d stream(s) differ from the platform", e.n, e.of)
}

// replayCheck samples the callback and interaction streams the range
// touched, folds each (all its events, as the store holds them now) with
// this binary's code, and asks the platform for the same stream at the
// time of its last event (?at=): both answers then cover the same events,
// whatever was appended since, so any difference is the code's or the
// store's, not a race.
func replayCheck(ctx context.Context, st eventstore.Store, s span, keep func(string) bool, f replayFlags, stdout io.Writer) error {
	ids := map[string][]string{} // by prefix, in the order first touched
	seen := map[string]bool{}
	err := scan(ctx, st, s, keep, func(e eventstore.RecordedEvent) error {
		for _, c := range checkedStreams {
			if strings.HasPrefix(e.Stream, c.prefix) && !seen[e.Stream] && len(ids[c.prefix]) < f.sample {
				seen[e.Stream] = true
				ids[c.prefix] = append(ids[c.prefix], strings.TrimPrefix(e.Stream, c.prefix))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay check: %w", err)
	}
	base := strings.TrimRight(f.platform, "/")
	client := &http.Client{Timeout: 30 * time.Second}
	total, differ := 0, 0
	for _, c := range checkedStreams {
		same := 0
		for _, id := range ids[c.prefix] {
			total++
			diff, err := checkOne(ctx, client, st, base, f.token, c, id)
			if err != nil {
				return err
			}
			if diff != "" {
				differ++
				fmt.Fprintf(stdout, "DIFFERS %s %s%s: %s\n", c.service, c.path, id, diff)
				continue
			}
			same++
		}
		fmt.Fprintf(stdout, "%s: %d of %d stream(s) as the platform answers them\n", c.service, same, len(ids[c.prefix]))
	}
	if differ > 0 {
		return &errDiffer{differ, total}
	}
	return nil
}

// checkOne compares one stream's fold with the platform's answer, and
// says how they differ ("" for not at all).
func checkOne(ctx context.Context, client *http.Client, st eventstore.Store, base, token string, c checked, id string) (string, error) {
	recs, err := st.ReadStream(ctx, c.prefix+id, 0)
	if err != nil {
		return "", fmt.Errorf("replay check: read %s%s: %w", c.prefix, id, err)
	}
	if len(recs) == 0 {
		return "", nil
	}
	at := recs[len(recs)-1].Time
	doc, ok := c.fold(recs, at)
	u := base + c.path + url.PathEscape(id) + "?at=" + url.QueryEscape(at.UTC().Format(time.RFC3339Nano))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("replay check: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("replay check: the platform: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("replay check: the platform answers %d to GET %s: give --token of a supervisor of every service", res.StatusCode, c.path+id)
	case res.StatusCode == http.StatusNotFound && !ok:
		return "", nil
	case res.StatusCode == http.StatusNotFound:
		return "the platform does not know it; this binary folds one", nil
	case res.StatusCode != http.StatusOK:
		return "", fmt.Errorf("replay check: the platform answers %d to GET %s: %s", res.StatusCode, u, bytes.TrimSpace(body))
	case !ok:
		return "the platform answers one; this binary folds none", nil
	}
	diff, err := jsonDiff(doc, body, c.ignore)
	last := recs[len(recs)-1].Revision
	switch rev := res.Header.Get("Ringback-As-Of-Revision"); {
	case rev == "":
		return "the platform answered the present, not the moment asked (a version before ?at=?)", err
	case rev != fmt.Sprint(last):
		note := fmt.Sprintf("the platform folded its events up to revision %s, this binary the store's up to %d", rev, last)
		if diff != "" {
			note += "; " + diff
		}
		return note, err
	}
	return diff, err
}

// jsonDiff names the fields where the fold's document and the platform's
// differ, but for ignore.
func jsonDiff(doc any, platform []byte, ignore []string) (string, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("replay check: %w", err)
	}
	var mine, theirs map[string]any
	if err := json.Unmarshal(b, &mine); err != nil {
		return "", fmt.Errorf("replay check: %w", err)
	}
	if err := json.Unmarshal(platform, &theirs); err != nil {
		return "the platform's answer is not a JSON object", nil //nolint:nilerr // a difference to report, not a failure of the check
	}
	var fields []string
	for k := range mine {
		fields = append(fields, k)
	}
	for k := range theirs {
		if _, ok := mine[k]; !ok {
			fields = append(fields, k)
		}
	}
	slices.Sort(fields)
	var out []string
	for _, k := range fields {
		if slices.Contains(ignore, k) {
			continue
		}
		a, _ := json.Marshal(mine[k])
		p, _ := json.Marshal(theirs[k])
		if !bytes.Equal(a, p) {
			out = append(out, fmt.Sprintf("%s: here %s, platform %s", k, short(a), short(p)))
		}
	}
	return strings.Join(out, "; "), nil
}

func short(b []byte) string {
	if len(b) > 80 {
		return string(b[:79]) + "…"
	}
	return string(b)
}
