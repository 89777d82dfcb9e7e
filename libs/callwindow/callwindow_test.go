package callwindow

import (
	"archive/zip"
	"bufio"
	"go/build"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	z, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Window
		err  bool
	}{
		{"08:00-21:00", Default, false},
		{"00:00-24:00", Full, false},
		{"off", Full, false},
		{" 09:30 - 18:15 ", Window{9*time.Hour + 30*time.Minute, 18*time.Hour + 15*time.Minute}, false},
		{"21:00-08:00", Window{}, true},
		{"8:00-21:00", Window{}, true},
		{"08:00", Window{}, true},
		{"08:00-24:30", Window{}, true},
		{"08:60-21:00", Window{}, true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if Default.String() != "08:00–21:00" {
		t.Errorf("Default.String() = %q", Default.String())
	}
}

func TestZones(t *testing.T) {
	london := mustZone(t, "Europe/London")
	for _, tc := range []struct {
		number, tz string
		want       string
	}{
		{"+442079460123", "", "Europe/London"},
		{"+14155550100", "", "America/Los_Angeles"},
		{"+14155550100", "Europe/Paris", "Europe/Paris"}, // the browser's zone wins
		{"+14155550100", "Not/AZone", "America/Los_Angeles"},
		{"+14155550100", "Local", "America/Los_Angeles"},
		{"nonsense", "", "Europe/London"}, // fallback: the service's zone
	} {
		if got := Names(Zones(tc.number, tc.tz, london)); got != tc.want {
			t.Errorf("Zones(%q, %q) = %s; want %s", tc.number, tc.tz, got, tc.want)
		}
	}
	// A number of a country spanning zones, with no area code narrowing it:
	// several zones.
	if zs := NumberZones("+18005550100"); len(zs) < 2 {
		t.Errorf("toll-free US number: zones %s, want several", Names(zs))
	}
	if got := Names(Zones("nonsense", "", nil)); got != "UTC" {
		t.Errorf("no fallback: %s", got)
	}
}

func TestAllowedAndNextOpening(t *testing.T) {
	london, la := mustZone(t, "Europe/London"), mustZone(t, "America/Los_Angeles")
	both := []*time.Location{london, la}
	at := func(loc *time.Location, s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for _, tc := range []struct {
		name    string
		t       time.Time
		zones   []*time.Location
		w       Window
		allowed bool
		next    time.Time
		ok      bool
	}{
		{"inside", at(london, "2027-01-04 10:00"), both[:1], Default, true, at(london, "2027-01-04 10:00"), true},
		{"at start", at(london, "2027-01-04 08:00"), both[:1], Default, true, at(london, "2027-01-04 08:00"), true},
		{"at end is closed", at(london, "2027-01-04 21:00"), both[:1], Default, false, at(london, "2027-01-05 08:00"), true},
		{"night", at(london, "2027-01-04 03:00"), both[:1], Default, false, at(london, "2027-01-04 08:00"), true},
		{"full window", at(london, "2027-01-04 03:00"), both[:1], Full, true, at(london, "2027-01-04 03:00"), true},
		// London 08:00–21:00 is LA 00:00–13:00; LA 08:00 is London 16:00.
		{"two zones", at(london, "2027-01-04 10:00"), both, Default, false, at(london, "2027-01-04 16:00"), true},
		{"two zones open", at(london, "2027-01-04 17:00"), both, Default, true, at(london, "2027-01-04 17:00"), true},
		// London and Tokyo share no 09:00–17:00 opening.
		{"never shared", at(london, "2027-01-04 10:00"), []*time.Location{london, mustZone(t, "Asia/Tokyo")}, Window{9 * time.Hour, 17 * time.Hour}, false, time.Time{}, false},
		// US spring forward 2027-03-14 02:00 -> 03:00; window opening in the gap.
		{"gap opening", at(la, "2027-03-14 01:00"), both[1:], Window{2*time.Hour + 30*time.Minute, 5 * time.Hour}, false, at(la, "2027-03-14 03:00"), true},
		// US fall back 2027-11-07 02:00 -> 01:00: the window 01:00–01:30 opens twice.
		{"overlap reopening", at(la, "2027-11-07 01:00").Add(40 * time.Minute), both[1:], Window{time.Hour, time.Hour + 30*time.Minute}, false, at(la, "2027-11-07 01:00").Add(time.Hour), true},
	} {
		if got := Allowed(tc.t, tc.zones, tc.w); got != tc.allowed {
			t.Errorf("%s: Allowed = %v", tc.name, got)
		}
		next, ok := NextOpening(tc.t, tc.zones, tc.w)
		if ok != tc.ok || !next.Equal(tc.next) {
			t.Errorf("%s: NextOpening = %v, %v; want %v, %v", tc.name, next, ok, tc.next, tc.ok)
		}
	}
}

// allZones lists every zone of the tz database Go ships (the zip that
// time/tzdata embeds the same data as), else the system's tzdata.zi.
func allZones(t *testing.T) []string {
	var names []string
	if r, err := zip.OpenReader(filepath.Join(build.Default.GOROOT, "lib", "time", "zoneinfo.zip")); err == nil {
		defer r.Close()
		for _, f := range r.File {
			if !strings.HasSuffix(f.Name, "/") {
				names = append(names, f.Name)
			}
		}
	} else if f, err := os.Open("/usr/share/zoneinfo/tzdata.zi"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) >= 2 && (fs[0] == "Z" || fs[0] == "L") {
				names = append(names, fs[len(fs)-1])
			}
		}
	}
	if len(names) == 0 {
		t.Skip("no list of the tz database's zones found (GOROOT/lib/time/zoneinfo.zip, /usr/share/zoneinfo/tzdata.zi)")
	}
	sort.Strings(names)
	return names
}

// checkNext is the property: NextOpening's answer is allowed, nothing
// before it since t is (sampled every 5 minutes and just before it), and
// Allowed agrees with NextOpening at t.
func checkNext(t *testing.T, from time.Time, zones []*time.Location, w Window) {
	t.Helper()
	next, ok := NextOpening(from, zones, w)
	if Allowed(from, zones, w) != (ok && next.Equal(from)) {
		t.Fatalf("%s from %v: Allowed %v but NextOpening %v, %v", Names(zones), from.UTC(), Allowed(from, zones, w), next.UTC(), ok)
	}
	end := from.Add(Horizon)
	if ok {
		if next.Before(from) || !Allowed(next, zones, w) {
			t.Fatalf("%s from %v: NextOpening %v is not allowed", Names(zones), from.UTC(), next.UTC())
		}
		if next.After(from) && Allowed(next.Add(-time.Nanosecond), zones, w) {
			t.Fatalf("%s from %v: NextOpening %v, but the instant before is allowed", Names(zones), from.UTC(), next.UTC())
		}
		end = next
	}
	for u := from; u.Before(end); u = u.Add(5 * time.Minute) {
		if Allowed(u, zones, w) {
			t.Fatalf("%s from %v: %v is allowed, before NextOpening %v (%v)", Names(zones), from.UTC(), u.UTC(), next.UTC(), ok)
		}
	}
}

// TestPropertyEveryZone: in every zone of the tz database, at random
// instants of the next two years and around each of their DST changes,
// with the default window and one whose edges sit where clocks change.
func TestPropertyEveryZone(t *testing.T) {
	names := allZones(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d zones, seed %d", len(names), seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	base := time.Now().UTC().Truncate(time.Hour)
	span := 2 * 365 * 24 * time.Hour
	windows := []Window{Default, {time.Hour, 3 * time.Hour}, {2*time.Hour + 30*time.Minute, 24 * time.Hour}}
	var zones []*time.Location
	for _, n := range names {
		z, err := time.LoadLocation(n)
		if err != nil {
			t.Errorf("zone %s: %v", n, err)
			continue
		}
		zones = append(zones, z)
	}
	for _, z := range zones {
		one := []*time.Location{z}
		for range 6 {
			from := base.Add(time.Duration(rng.Int64N(int64(span))))
			checkNext(t, from, one, windows[rng.IntN(len(windows))])
		}
		// Every transition of the next two years, and instants around it.
		for u := base; u.Before(base.Add(span)); {
			_, next := u.In(z).ZoneBounds()
			if next.IsZero() || !next.After(u) {
				break
			}
			for _, d := range []time.Duration{-90 * time.Minute, -time.Nanosecond, 0, 30 * time.Minute, 2 * time.Hour} {
				for _, w := range windows {
					checkNext(t, next.Add(d), one, w)
				}
			}
			u = next
		}
	}
	// Several zones at once, as a number spanning zones gives.
	for range 300 {
		set := []*time.Location{zones[rng.IntN(len(zones))], zones[rng.IntN(len(zones))]}
		if rng.IntN(2) == 0 {
			set = append(set, zones[rng.IntN(len(zones))])
		}
		checkNext(t, base.Add(time.Duration(rng.Int64N(int64(span)))), set, windows[rng.IntN(len(windows))])
	}
}

func TestParseServices(t *testing.T) {
	s, err := ParseServices("09:00-20:00; sales=10:00-18:00")
	if err != nil || s.Of("sales") != (Window{10 * time.Hour, 18 * time.Hour}) || s.Of("x") != (Window{9 * time.Hour, 20 * time.Hour}) {
		t.Fatalf("%v %v", s, err)
	}
	if s, _ := ParseServices(""); s.Of("x") != Default {
		t.Fatalf("empty: %v", s.Of("x"))
	}
	for _, bad := range []string{"=08:00-21:00", "a=08:00-21:00;a=09:00-20:00", "a=9-5"} {
		if _, err := ParseServices(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
