package scheduler

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestOfficeHoursFlag(t *testing.T) {
	cases := []struct {
		value   string
		wantErr string // substring; empty for valid
	}{
		{"", ""},
		{"support=Mon-Fri 08:00-20:00 Europe/Paris", ""},
		{"support=Mon-Fri 08:00-20:00, Sat 09:00-12:00 Europe/Paris; sales=Mon-Fri 09:00-18:00 America/New_York;", ""},
		{"*=Mon-Sun 07:00-22:00 UTC", ""},
		{"support", "want SERVICE=WINDOWS"},
		{"=Mon-Fri 08:00-20:00", "want SERVICE=WINDOWS"},
		{"support=Mon-Fri 08:00-20:00;support=Sat 09:00-12:00", "given twice"},
		{"support=Mon-Fri 20:00-08:00 Europe/Paris", `service "support"`},
		{"support=Mon-Fri 08:00-20:00 Europe/Pariss", "time zone"},
		{"support=", "no opening window"},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var cfg Config
			cfg.RegisterFlags(fs)
			if err := fs.Parse([]string{"--scheduler.office-hours=" + c.value}); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "scheduler.office-hours") {
				t.Fatalf("err = %v, want one naming the flag and containing %q", err, c.wantErr)
			}
		})
	}
}

func TestOfficeHoursPerService(t *testing.T) {
	o, err := parseOfficeHours("support=Mon-Fri 08:00-20:00 Europe/Paris; *=Sat 09:00-12:00")
	if err != nil {
		t.Fatal(err)
	}
	wednesday := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	if got, want := o.of("support").Next(wednesday), time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("support: %v, want %v", got, want)
	}
	if got, want := o.of("sales").Next(wednesday), time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("sales falls back to *: %v, want %v", got, want)
	}
	none, _ := parseOfficeHours("")
	if got := none.of("support").Next(wednesday); !got.Equal(wednesday) {
		t.Fatalf("no hours moved %v to %v", wednesday, got)
	}
}
