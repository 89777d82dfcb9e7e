package officehours

import (
	"testing"
	"time"
)

func TestHolidaysAndSpecialDays(t *testing.T) {
	loc := paris(t)
	h, err := ParseHours("Mon-Fri 08:00-20:00 Europe/Paris", time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	xmasEve, xmas := Date{2026, 12, 24}, Date{2026, 12, 25}
	h.Holidays = map[Date]bool{xmas: true, {2026, 12, 28}: true}
	h.Special = map[Date][]Span{xmasEve: {{8 * time.Hour, 13 * time.Hour}}, {2026, 12, 27}: {{10 * time.Hour, 12 * time.Hour}}}
	at := func(d, hh, mm int) time.Time { return time.Date(2026, 12, d, hh, mm, 0, 0, loc) }
	cases := []struct {
		name     string
		from     time.Time
		want     time.Time
		openNow  bool
		openings int
	}{
		{"a short Christmas Eve: open in the morning", at(24, 9, 0), at(24, 9, 0), true, 1},
		{"a short Christmas Eve: closed at 14:00, Christmas a holiday, Sat closed, Sun opened specially", at(24, 14, 0), at(27, 10, 0), false, 1},
		{"the special Sunday after its hours: Monday is a holiday too", at(27, 12, 0), at(29, 8, 0), false, 1},
		{"an ordinary Tuesday", at(29, 7, 0), at(29, 8, 0), false, 1},
	}
	for _, c := range cases {
		if got := h.Next(c.from); !got.Equal(c.want) {
			t.Errorf("%s: next %s, want %s", c.name, got, c.want)
		}
		if got := h.Open(c.from); got != c.openNow {
			t.Errorf("%s: open %v", c.name, got)
		}
	}
	if got := h.Openings(xmas); len(got) != 0 {
		t.Errorf("Christmas openings %v", got)
	}
	if got := h.Openings(Date{2026, 12, 26}); len(got) != 0 {
		t.Errorf("a Saturday without windows: %v", got)
	}
	// Holidays alone, with no weekly windows: open every day but those.
	only := Hours{Loc: loc, Holidays: map[Date]bool{xmas: true}}
	if only.AlwaysOpen() || !only.Next(at(25, 10, 0)).Equal(at(26, 0, 0)) || !only.Open(at(24, 23, 0)) {
		t.Errorf("holidays alone: next %s", only.Next(at(25, 10, 0)))
	}
	// A closure longer than a week is still crossed.
	long := Hours{Loc: loc, Windows: h.Windows, Holidays: map[Date]bool{}}
	for d := 1; d <= 20; d++ {
		long.Holidays[Date{2027, 8, d}] = true
	}
	if got := long.Next(time.Date(2027, 7, 31, 12, 0, 0, 0, loc)); !got.Equal(time.Date(2027, 8, 23, 8, 0, 0, 0, loc)) {
		t.Errorf("after a 20-day closure: %s", got)
	}
}

func TestParseDateAndSpan(t *testing.T) {
	if _, err := ParseDate("2026-02-30"); err == nil {
		t.Error("30 February accepted")
	}
	if d, err := ParseDate("2026-12-25"); err != nil || d.String() != "2026-12-25" {
		t.Errorf("%v %v", d, err)
	}
	if _, err := ParseSpan("13:00-08:00"); err == nil {
		t.Error("a span closing before it opens accepted")
	}
}
