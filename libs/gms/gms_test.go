package gms

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/availability"
)

var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestNumberAsGMSSitesSendThem(t *testing.T) {
	for _, c := range []struct {
		raw, region, want string
		err               bool
	}{
		{"+14155550123", "", "+14155550123", false},
		{"+1 (415) 555-0123", "", "+14155550123", false},
		{"0044 20 7123 4567", "", "+442071234567", false},
		{"(415) 555-0123", "US", "+14155550123", false},
		{"06 12 34 56 78", "FR", "+33612345678", false},
		{"00 44 20 7123 4567", "FR", "+442071234567", false}, // France dials 00 abroad
		{"+33 6 12 34 56 78", "US", "+33612345678", false},   // international whatever the default
		{"4155550123", "", "", true},                         // national, no default country
		{"", "US", "", true},
		{"call me", "US", "", true},
		{"+1", "", "", true},
	} {
		got, err := Number(c.raw, c.region)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("Number(%q, %q) = %q, %v; want %q (error %v)", c.raw, c.region, got, err, c.want, c.err)
		}
	}
	if _, err := Number("4155550123", ""); !errors.Is(err, ErrNational) {
		t.Errorf("a national number without a default country: %v, want ErrNational", err)
	}
}

func TestTimesAreGMSs(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	if got := FormatTime(at); got != "2026-12-07T08:30:00.000Z" {
		t.Errorf("FormatTime = %q", got)
	}
	for in, want := range map[string]string{
		"2026-12-07T08:30:00.000Z":  "2026-12-07T08:30:00Z",
		"2026-12-07T08:30:00Z":      "2026-12-07T08:30:00Z",
		"2026-12-07T09:30:00+01:00": "2026-12-07T08:30:00Z",
	} {
		got, err := ParseTime(in)
		if err != nil || got.UTC().Format(time.RFC3339) != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"2026-12-07T08:30:00", "2026-12-07T08:30:00+24:00", "2026-12-07", "tomorrow", "1765096200000"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestErrorIsGMSsBodyNamingTheField(t *testing.T) {
	rec := httptest.NewRecorder()
	e := BadField("_customer_number", "is required")
	e.Availability = Proposed([]availability.SlotView{{Start: now, Free: 3}})
	Write(rec, e)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	want := map[string]any{"code": 400.0, "phrase": "Bad Request", "message": "is required", "exception": ExceptionCallback,
		"field": "_customer_number", "availability": map[string]any{"2026-11-25T09:00:00.000Z": 3.0}}
	if b, _ := json.Marshal(body); string(b) != string(must(json.Marshal(want))) {
		t.Errorf("body = %s, want %s", b, must(json.Marshal(want)))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// The query strings below are the ones GMS's documentation and client
// libraries send (GMSLibrary's queryAvailabilityV1/V2).
func TestParseAvailability(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	day := 24 * time.Hour
	for _, c := range []struct {
		name    string
		version int
		query   string
		want    AvailabilityQuery
		field   string
	}{
		{"nothing: the day from now", 1, "", AvailabilityQuery{Start: now, End: now.Add(day), Max: MaxSlots}, ""},
		{"start and number-of-days", 1, "start=2026-11-26T08:00:00.000Z&number-of-days=3&max-time-slots=20",
			AvailabilityQuery{Start: now.Add(23 * time.Hour), End: now.Add(23*time.Hour + 3*day), Max: 20}, ""},
		{"start in the past is now", 1, "start=2026-11-20T08:00:00.000Z&end=2026-11-25T12:00:00.000Z",
			AvailabilityQuery{Start: now, End: now.Add(3 * time.Hour), Max: MaxSlots}, ""},
		{"end wins over number-of-days", 1, "end=2026-11-25T12:00:00.000Z&number-of-days=5",
			AvailabilityQuery{Start: now, End: now.Add(3 * time.Hour), Max: MaxSlots}, ""},
		{"past the booking limit is the limit", 1, "number-of-days=14",
			AvailabilityQuery{Start: now, End: now.Add(7 * day), Max: MaxSlots}, ""},
		{"v2: ms forms, timezone, report-busy", 2,
			"start-ms=1795600800000&end-ms=1795611600000&timezone=Europe/Paris&report-busy=true",
			AvailabilityQuery{Start: now.Add(time.Hour), End: now.Add(4 * time.Hour), Max: MaxSlots, Zone: paris, Busy: true}, ""},
		{"v1 takes no timezone", 1, "timezone=Europe/Paris", AvailabilityQuery{}, "timezone"},
		{"unknown parameter", 2, "days=3", AvailabilityQuery{}, "days"},
		{"twice", 1, "start=2026-11-26T08:00:00Z&start=2026-11-27T08:00:00Z", AvailabilityQuery{}, "start"},
		{"bad start", 1, "start=tomorrow", AvailabilityQuery{}, "start"},
		{"start and start-ms", 2, "start=2026-11-26T08:00:00Z&start-ms=1795600800000", AvailabilityQuery{}, "start-ms"},
		{"bad end-ms", 2, "end-ms=soon", AvailabilityQuery{}, "end-ms"},
		{"end before start", 1, "start=2026-11-26T08:00:00Z&end=2026-11-26T07:00:00Z", AvailabilityQuery{}, "end"},
		{"too long", 1, "start=2026-11-26T08:00:00Z&end=2026-12-26T07:00:00Z", AvailabilityQuery{}, "end"},
		{"start past the limit", 1, "start=2026-12-26T08:00:00Z", AvailabilityQuery{}, "start"},
		{"number-of-days 0", 1, "number-of-days=0", AvailabilityQuery{}, "number-of-days"},
		{"max-time-slots too many", 1, "max-time-slots=5000", AvailabilityQuery{}, "max-time-slots"},
		{"bad timezone", 2, "timezone=Mars/Olympus", AvailabilityQuery{}, "timezone"},
		{"bad report-busy", 2, "report-busy=maybe", AvailabilityQuery{}, "report-busy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			got, gerr := ParseAvailability(v, c.version, now, 7*day)
			if c.field != "" {
				if gerr == nil || gerr.Field != c.field || gerr.Status != 400 {
					t.Fatalf("error %+v, want 400 naming %s", gerr, c.field)
				}
				return
			}
			if gerr != nil {
				t.Fatalf("error %v", gerr)
			}
			if !got.Start.Equal(c.want.Start) || !got.End.Equal(c.want.End) || got.Max != c.want.Max || got.Busy != c.want.Busy ||
				(got.Zone == nil) != (c.want.Zone == nil) || (got.Zone != nil && got.Zone.String() != c.want.Zone.String()) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestAvailabilityAnswers(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	slots := []availability.Slot{
		{Start: now, End: now.Add(30 * time.Minute), Capacity: 5, Booked: 2},
		{Start: now.Add(30 * time.Minute), End: now.Add(time.Hour), Capacity: 5, Booked: 5},
	}
	v1, _ := json.Marshal(V1(slots))
	if string(v1) != `{"2026-11-25T09:00:00.000Z":3,"2026-11-25T09:30:00.000Z":0}` {
		t.Errorf("v1 = %s", v1)
	}
	v2, _ := json.Marshal(NewV2(slots, 30*time.Minute, paris))
	want := `{"durationMin":30,"timezone":"Europe/Paris","slots":[` +
		`{"utcTime":"2026-11-25T09:00:00.000Z","localTime":"2026-11-25T10:00:00.000","capacity":3,"total":5},` +
		`{"utcTime":"2026-11-25T09:30:00.000Z","localTime":"2026-11-25T10:30:00.000","capacity":0,"total":5}]}`
	if string(v2) != want {
		t.Errorf("v2 = %s\nwant %s", v2, want)
	}
	bare, _ := json.Marshal(NewV2(nil, 15*time.Minute, nil))
	if string(bare) != `{"durationMin":15,"slots":[]}` {
		t.Errorf("v2 without slots or zone = %s", bare)
	}
}
