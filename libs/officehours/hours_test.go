package officehours

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseHours(t *testing.T) {
	cases := []struct {
		spec    string
		wantErr string // substring; empty for success
		windows int
		zone    string
	}{
		{"Mon-Fri 08:00-20:00 Europe/Paris", "", 1, "Europe/Paris"},
		{"Mon-Fri 08:00-20:00, Sat 09:00-12:00 America/New_York", "", 2, "America/New_York"},
		{"Fri-Mon 00:00-24:00", "", 1, "UTC"},
		{"mon 08:00-09:00,tue 10:00-11:00", "", 2, "UTC"},
		{"", "no opening window", 0, ""},
		{"Europe/Paris", "day", 0, ""},
		{"Mon-Fri", "no hours", 0, ""},
		{"Mon-Fri 8:00-20:00", "HH:MM", 0, ""},
		{"Mon-Fri 08:00-25:00", "HH:MM", 0, ""},
		{"Mon-Fri 20:00-08:00", "closes before it opens", 0, ""},
		{"Mon-Fri 08:00", "HH:MM-HH:MM", 0, ""},
		{"Mon-Fry 08:00-20:00", `day "Fry"`, 0, ""},
		{"Mon-Fri 08:00-20:00 Mars/Olympus", "time zone", 0, ""},
		{"Mon-Fri 08:00-20:00 Europe/Paris Sat", `day "Europe/Paris"`, 0, ""}, // the zone comes last
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			h, err := ParseHours(c.spec, time.LoadLocation)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			zone := "UTC"
			if h.Loc != nil {
				zone = h.Loc.String()
			}
			if len(h.Windows) != c.windows || zone != c.zone {
				t.Fatalf("got %d windows in %s, want %d in %s", len(h.Windows), zone, c.windows, c.zone)
			}
		})
	}
}

func TestNext(t *testing.T) {
	loc := paris(t)
	h, err := ParseHours("Mon-Fri 08:00-20:00, Sat 09:00-12:00 Europe/Paris", time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, loc) }
	cases := []struct {
		name     string
		in, want time.Time
	}{
		{"inside", at(25, 10, 0), at(25, 10, 0)},
		{"at the opening", at(25, 8, 0), at(25, 8, 0)},
		{"before the opening", at(25, 6, 30), at(25, 8, 0)},
		{"at the closing", at(25, 20, 0), at(26, 8, 0)},
		{"Friday evening to Saturday morning", at(27, 21, 0), at(28, 9, 0)},
		{"Saturday afternoon to Monday", at(28, 13, 0), at(30, 8, 0)},
		{"Sunday to Monday", at(29, 23, 59), at(30, 8, 0)},
		{"zone of the input does not matter", at(28, 13, 0).UTC(), at(30, 8, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := h.Next(c.in); !got.Equal(c.want) {
				t.Fatalf("Next(%v) = %v, want %v", c.in, got.In(loc), c.want)
			}
		})
	}
	if got := (Hours{}).Next(t0); !got.Equal(t0) {
		t.Fatalf("always open moved %v to %v", t0, got)
	}
}

// Across a DST change the opening is still 08:00 on the wall clock.
func TestNextAcrossDST(t *testing.T) {
	loc := paris(t)
	h, _ := ParseHours("Mon-Fri 08:00-20:00 Europe/Paris", time.LoadLocation)
	// Saturday 28 March 2026; clocks go forward on Sunday the 29th.
	got := h.Next(time.Date(2026, 3, 28, 12, 0, 0, 0, loc))
	if want := time.Date(2026, 3, 30, 8, 0, 0, 0, loc); !got.Equal(want) || got.In(loc).Hour() != 8 {
		t.Fatalf("got %v, want %v", got.In(loc), want)
	}
}

// FuzzNext holds the invariants: never earlier, inside the hours, and the
// earliest such instant (Next of an open instant is itself).
func FuzzNext(f *testing.F) {
	h, err := ParseHours("Mon-Fri 08:00-20:00, Sat 09:00-12:00, Sun 23:30-24:00 Europe/Paris", time.LoadLocation)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(t0.Unix())
	f.Add(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC).Unix())
	f.Add(time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC).Unix())
	f.Fuzz(func(t *testing.T, sec int64) {
		in := time.Unix(sec%(1<<33), 0)
		got := h.Next(in)
		if got.Before(in) {
			t.Fatalf("Next(%v) = %v is earlier", in, got)
		}
		if again := h.Next(got); !again.Equal(got) {
			t.Fatalf("Next(%v) = %v is not open: Next of it is %v", in, got, again)
		}
		if got.Sub(in) > 8*24*time.Hour {
			t.Fatalf("Next(%v) = %v is more than a week on", in, got)
		}
		// Nothing open in between: a minute before the answer is closed.
		if before := got.Add(-time.Minute); before.After(in) && h.Next(before).Equal(before) {
			t.Fatalf("Next(%v) = %v, but %v is open", in, got, before)
		}
	})
}
