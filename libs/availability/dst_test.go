package availability

import (
	"archive/zip"
	"go/build"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/officehours"
	"github.com/ringback/ringback/libs/serviceconf"
)

// zoneNames lists the tz database Go ships.
func zoneNames(t *testing.T) []string {
	r, err := zip.OpenReader(filepath.Join(build.Default.GOROOT, "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("no list of the tz database's zones: %v", err)
	}
	defer r.Close()
	var names []string
	for _, f := range r.File {
		if !strings.HasSuffix(f.Name, "/") {
			names = append(names, f.Name)
		}
	}
	return names
}

// TestBucketsTileEveryDayOfEveryChange is the property behind the slots:
// on every day of the next two years where a zone of the tz database
// changes its UTC offset, for bucket sizes a services file allows, the
// buckets of an always-open service tile the local day exactly (no gap, no
// overlap, none longer than its size), and every instant of a bucket maps
// back to its start.
func TestBucketsTileEveryDayOfEveryChange(t *testing.T) {
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(2, 0, 0)
	days := 0
	for _, name := range zoneNames(t) {
		loc, err := time.LoadLocation(name)
		if err != nil {
			continue
		}
		for at := from.In(loc); at.Before(until); {
			_, end := at.ZoneBounds()
			if end.IsZero() || !end.Before(until) {
				break
			}
			day := officehours.DateOf(end.In(loc))
			next := officehours.DateOf(time.Date(day.Year, day.Month, day.Day+1, 0, 0, 0, 0, time.UTC))
			dayStart, dayEnd := wallClock(day, 0, loc), wallClock(next, 0, loc)
			days++
			for _, size := range []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour} {
				q := Query{Hours: officehours.Hours{Loc: loc}, Capacity: serviceconf.Capacity{Bucket: size, PerBucket: every(1)},
					From: dayStart, To: dayEnd}
				slots := Slots(q, func(time.Time) int { return 0 })
				if len(slots) == 0 || !slots[0].Start.Equal(dayStart) || !slots[len(slots)-1].End.Equal(dayEnd) {
					t.Fatalf("%s %s, %s buckets: do not cover the day: %d slots", name, dayStart.Format(time.DateOnly), size, len(slots))
				}
				for i, s := range slots {
					if i > 0 && !s.Start.Equal(slots[i-1].End) {
						t.Fatalf("%s %s, %s buckets: gap or overlap at %s", name, dayStart.Format(time.DateOnly), size, s.Start)
					}
					if l := s.End.Sub(s.Start); l <= 0 || l > size {
						t.Fatalf("%s %s, %s buckets: bucket %s lasts %s", name, dayStart.Format(time.DateOnly), size, s.Start, l)
					}
					for _, in := range []time.Time{s.Start, s.Start.Add(s.End.Sub(s.Start) / 2), s.End.Add(-time.Second)} {
						if b := BucketStart(in, loc, size); !b.Equal(s.Bucket) || !s.Bucket.Equal(s.Start) {
							t.Fatalf("%s %s, %s buckets: %s maps to %s, not %s", name, dayStart.Format(time.DateOnly), size, in, b, s.Bucket)
						}
					}
				}
			}
			at = end.In(loc)
		}
	}
	if days == 0 {
		t.Fatal("no change of offset found")
	}
	t.Logf("%d days with a change of offset checked", days)
}

// Havana's clocks skip midnight: its day begins at 01:00, which time.Date
// puts an hour before, on the eve.
func TestDayWithoutMidnight(t *testing.T) {
	havana, err := time.LoadLocation("America/Havana")
	if err != nil {
		t.Skip(err)
	}
	got := wallClock(officehours.Date{Year: 2027, Month: 3, Day: 14}, 0, havana)
	if want := time.Date(2027, 3, 14, 5, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Havana's 14 March 2027 begins at %s, want %s", got, want.In(havana))
	}
	q := Query{Hours: officehours.Hours{Loc: havana}, Capacity: serviceconf.Capacity{Bucket: time.Hour, PerBucket: every(1)},
		From: time.Date(2027, 3, 13, 12, 0, 0, 0, havana), To: time.Date(2027, 3, 14, 12, 0, 0, 0, havana)}
	if n := len(Slots(q, func(time.Time) int { return 0 })); n != 23 {
		t.Fatalf("%d hour buckets from noon to noon across the skipped midnight, want 23", n)
	}
}
