package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
	"github.com/ringback/ringback/libs/eventstore/postgres/pgtest"
	"github.com/ringback/ringback/libs/siptest"
)

// The erasure canary's values: each must be unreadable anywhere at rest and
// on the bus, and read as erased in the API once the contact is erased.
const (
	canaryNumber  = "+14155550199"
	canaryDigits  = "4155550199" // the number as it would show in a SIP URI or a log
	canaryName    = "Zebedee Canaryfield"
	canarySubject = "canary-subject-9931"
	canaryCase    = "canary-case-4417"
	canaryEdit    = "canary-edit-2290"
	canaryNote    = "canary-note-7702"
)

// sealedMark starts every sealed value (libs/personal): present where the
// canaries were, it shows the test reads the right bytes.
const sealedMark = "rbp1:"

var canaries = []string{canaryDigits, canaryName, canarySubject, canaryCase, canaryEdit, canaryNote}

func readableCanary(b []byte) string {
	for _, c := range canaries {
		if bytes.Contains(b, []byte(c)) {
			return c
		}
	}
	return ""
}

// TestErasureCanary is issue 16 point 9 end to end: a contact with canary
// values goes through a whole interaction (note, case data edit, a
// recording) on the single-process app over Kafka, then is erased. The
// store files, the topics (read as an analytics consumer would) and the
// recordings never hold a readable canary, and afterwards the API and the
// history answer every personal field as erased.
func TestErasureCanary(t *testing.T) {
	siptest.Sipp(t)
	brokers := strings.Join(kafkatest.StartBroker(t), ",")
	data := t.TempDir()
	keys := []string{"--data", data, "--personal.keys", "dir:" + filepath.Join(data, "keys")}
	erasureCanary(t, data, keys, append([]string{"--bus", "kafka", "--kafka-brokers", brokers, "--allow-embedded-with-kafka"}, keys...),
		func(t *testing.T) {
			// The topics, as an analytics consumer reads them: keys, headers, values.
			kcat, err := exec.LookPath("kcat")
			if err != nil {
				t.Log("kcat not installed (apt-get install kcat): topics not read")
				return
			}
			for _, topic := range []string{"intake", "scheduler", "router", "agent", "media", "history", "disposition"} {
				out, err := exec.Command(kcat, "-b", brokers, "-C", "-t", "ringback."+topic, "-o", "beginning", "-e", "-q",
					"-f", "%k %h %s\n").CombinedOutput()
				if err != nil {
					t.Fatalf("kcat %s: %v\n%s", topic, err, out)
				}
				if c := readableCanary(out); c != "" {
					t.Errorf("topic ringback.%s holds %q readable", topic, c)
				}
				if topic == "intake" && !bytes.Contains(out, []byte(sealedMark)) {
					t.Errorf("topic ringback.intake holds no sealed value: the test reads the wrong thing\n%s", out)
				}
			}
		})
}

// TestErasureCanaryOnKeyLog is the same on the single node's defaults:
// the embedded store and bus, and the keys in the log of <data>/keys
// (log:), which `ringback recording` reads beside the running server.
func TestErasureCanaryOnKeyLog(t *testing.T) {
	siptest.Sipp(t)
	data := t.TempDir()
	keys := []string{"--data", data}
	erasureCanary(t, data, keys, keys, func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(data, "keys", "log")); err != nil {
			t.Errorf("the keys are not in the log: %v", err)
		}
	})
}

// TestErasureCanaryOnPostgreSQL is the same on the shared store: the keys
// are in its database, and its rows hold no readable canary.
func TestErasureCanaryOnPostgreSQL(t *testing.T) {
	siptest.Sipp(t)
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed (apt-get install postgresql-client)")
	}
	db := pgtest.Database(t)
	data := t.TempDir()
	keys := []string{"--data", data, "--eventstore", db}
	erasureCanary(t, data, keys, keys, func(t *testing.T) {
		// Every row of every table, bytea as text, as a dump would show it.
		out, err := exec.Command(psql, db, "-At", "-c", `SELECT encode(data, 'escape'), metadata::text FROM eventstore.events;
			SELECT ns, name, encode(value, 'escape') FROM personal.blobs; SELECT * FROM eventstore.streams`).CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		if c := readableCanary(out); c != "" {
			t.Errorf("the PostgreSQL store holds %q readable", c)
		}
		if !bytes.Contains(out, []byte(sealedMark)) {
			t.Errorf("the PostgreSQL store holds no sealed value: the test reads the wrong thing")
		}
	})
}

// erasureCanary runs the canary's interaction on a single process started
// with args, erases the contact, and checks the API, the files under data
// and whatever atRest reads (the topics, the database). keyArgs name the
// key store for `ringback recording`.
func erasureCanary(t *testing.T, data string, keyArgs, args []string, atRest func(t *testing.T)) {
	phone := siptest.StartUAS(t, siptest.AnswerHold)
	contact := siptest.StartUAS(t, siptest.AnswerHold)
	p := start(t, "ringback", append([]string{"--sip", freePort(t, "udp"), "--sip-trunk", contact.Addr, "--media.trunk-keepalive", "0"}, args...)...)
	a := api{t: t, route: func(string, string) string { return p.URL }}

	a.do("POST", "/v1/agents/e1/session", map[string]string{"phone_uri": "sip:e1@" + phone.Addr})
	a.do("PUT", "/v1/agents/e1/state", map[string]string{"channel": "webcallback", "state": "READY"})
	pushed := a.events("e1")
	seen := 0
	cb := desktopCallback(t, a, canaryNumber, canarySubject, canaryName, map[string]string{"order": canaryCase})
	offer := pushed.waitFor(t, &seen, "offer", func(e sseEvent) bool { return e.Name == "offer" })
	var v interactionView
	_ = json.Unmarshal(offer.Data, &v)
	if v.Callback.PhoneNumber != canaryNumber || v.CaseData["order"] != canaryCase {
		t.Fatalf("the offer does not show the contact in clear before erasure: %s", offer.Data)
	}
	ix := v.ID
	steps := []struct{ method, path string }{{"POST", "accept"}, {"POST", "call"}}
	for _, s := range steps {
		if r := a.do(s.method, "/v1/interactions/"+ix+"/"+s.path, nil); r.Status != 200 && r.Status != 202 {
			t.Fatalf("%s: %d %s", s.path, r.Status, r.Body)
		}
	}
	a.eventually("/v1/interactions/"+ix, &v, "Connected", func() bool { return v.Status == "Connected" })
	for _, path := range []string{"record", "stop-recording", "end-call"} {
		if r := a.do("POST", "/v1/interactions/"+ix+"/"+path, nil); r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	a.eventually("/v1/interactions/"+ix, &v, "Ready to Call", func() bool { return v.Status == "Ready to Call" })
	if r := a.do("POST", "/v1/interactions/"+ix+"/notes", map[string]string{"agent_id": "e1", "text": canaryNote}); r.Status != 201 {
		t.Fatalf("note: %d %s", r.Status, r.Body)
	}
	if r := a.do("PUT", "/v1/interactions/"+ix+"/case-data", map[string]any{"agent_id": "e1",
		"case_data": map[string]string{"order": canaryCase, "edited": canaryEdit}}); r.Status != 200 {
		t.Fatalf("case data: %d %s", r.Status, r.Body)
	}
	a.do("PUT", "/v1/interactions/"+ix+"/disposition", map[string]string{"code": "resolved"})
	a.eventually("/v1/interactions/"+ix, &v, "disposition noted", func() bool { return v.Disposition == "resolved" })
	if r := a.do("POST", "/v1/interactions/"+ix+"/done", nil); r.Status != 200 {
		t.Fatalf("done: %d %s", r.Status, r.Body)
	}
	var final struct {
		State       string `json:"state"`
		ContactName string `json:"contact_name"`
	}
	a.eventually("/v1/callbacks/"+cb, &final, "callback COMPLETED", func() bool { return final.State == "COMPLETED" })
	if final.ContactName != canaryName {
		t.Fatalf("before erasure the callback reads contact_name %q, want the plaintext", final.ContactName)
	}
	var hist []contactRow
	a.eventually("/v1/contacts/%2B"+canaryNumber[1:]+"/history", &hist, "the note in the history", func() bool {
		return len(hist) == 1 && len(hist[0].Notes) == 1 && hist[0].Notes[0].Text == canaryNote
	})
	var trail []struct{ Type string }
	a.eventually("/v1/interactions/"+ix+"/events", &trail, "the recording in the audit trail", func() bool {
		return hasInOrder(trail, "CallbackRequested", "DialRequested", "RecordingStopped", "NoteAdded", "InteractionDone")
	})
	recordings, _ := filepath.Glob(filepath.Join(data, "recordings", "*", "*"))
	if len(recordings) == 0 {
		t.Fatal("no recording made")
	}
	// A supervisor plays it while the contact is not erased.
	openRecording := func(out string) ([]byte, error) {
		return exec.Command(binary, append(append([]string{"recording"}, keyArgs...), "--out", out, recordings[0])...).CombinedOutput()
	}
	played := filepath.Join(t.TempDir(), "played.wav")
	if out, err := openRecording(played); err != nil {
		t.Fatalf("ringback recording: %v\n%s", err, out)
	}
	if wav, _ := os.ReadFile(played); !bytes.HasPrefix(wav, []byte("RIFF")) || len(wav) <= 44 {
		t.Fatalf("the opened recording is no WAV: %d bytes", len(wav))
	}

	// Erase: the key is destroyed; the record of it names no number.
	r := a.do("DELETE", "/v1/contacts/%2B"+canaryNumber[1:], nil)
	if r.Status != 200 || readableCanary(r.Body) != "" {
		t.Fatalf("erase: %d %s", r.Status, r.Body)
	}
	if r := a.do("DELETE", "/v1/contacts/0612", nil); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"phone_number"`) {
		t.Fatalf("erase of a malformed number: %d %s", r.Status, r.Body)
	}

	// The API and the history answer the fields as erased.
	var after struct {
		PhoneNumber string            `json:"phone_number"`
		Subject     string            `json:"subject"`
		ContactName string            `json:"contact_name"`
		CaseData    map[string]string `json:"case_data"`
		State       string            `json:"state"`
	}
	r = a.do("GET", "/v1/callbacks/"+cb, nil)
	r.decode(t, &after)
	if after.PhoneNumber != "[erased]" || after.Subject != "[erased]" || after.ContactName != "[erased]" ||
		after.CaseData["order"] != "[erased]" || after.State != "COMPLETED" {
		t.Errorf("callback after erasure: %s", r.Body)
	}
	for _, path := range []string{"/v1/callbacks/" + cb, "/v1/interactions/" + ix + "/events",
		"/v1/contacts/%2B" + canaryNumber[1:] + "/history", "/v1/interactions/" + ix} {
		if r := a.do("GET", path, nil); readableCanary(r.Body) != "" {
			t.Errorf("GET %s after erasure reads %q: %s", path, readableCanary(r.Body), r.Body)
		}
	}
	r = a.do("GET", "/v1/contacts/%2B"+canaryNumber[1:]+"/history", nil)
	r.decode(t, &hist)
	if len(hist) != 1 || hist[0].Subject != "[erased]" || len(hist[0].Notes) != 1 || hist[0].Notes[0].Text != "[erased]" ||
		hist[0].State != "COMPLETED" {
		t.Errorf("history after erasure: %s", r.Body)
	}

	atRest(t)

	// The files at rest, once the process has stopped: the store, the key
	// store, the recordings.
	p.stop(t)
	files, sealed := 0, 0
	err := filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte(sealedMark)) {
			sealed++
		}
		if c := readableCanary(b); c != "" {
			t.Errorf("%s holds %q readable", path, c)
		}
		if strings.Contains(path, "recordings") && bytes.HasPrefix(b, []byte("RIFF")) {
			t.Errorf("recording %s is a plain WAV file", path)
		}
		return nil
	})
	_, embedded := os.Stat(filepath.Join(data, "store"))
	if err != nil || files == 0 || (embedded == nil && sealed == 0) {
		t.Fatalf("walked %d files, %d with sealed values: %v", files, sealed, err)
	}
	if out, err := openRecording(filepath.Join(t.TempDir(), "erased.wav")); err == nil || !strings.Contains(string(out), "erased") {
		t.Errorf("the recording of an erased contact opened: %v\n%s", err, out)
	}
}

type contactRow struct {
	Subject string `json:"subject"`
	State   string `json:"state"`
	Notes   []struct {
		Text string `json:"text"`
	} `json:"notes"`
}
