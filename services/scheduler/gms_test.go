package scheduler_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/gms"
	"github.com/ringback/ringback/libs/servicetest"
	"github.com/ringback/ringback/services/scheduler"
	"github.com/ringback/ringback/services/scheduler/schedule"
)

func gmsGet(t *testing.T, env *servicetest.Env, path string) (int, string, []byte) {
	t.Helper()
	res, err := http.Get(env.Server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), b
}

// GMS's availability queries, as GMS's documentation and client libraries
// write them, answered from the bookings: support takes 2 per half hour in
// Paris, open from 08:00 (servicetest.Start is 10:00 there).
func TestGMSAvailability(t *testing.T) {
	env, _ := newEnv(t, scheduler.Config{ServiceSet: capacityServices(t)})
	id := request(env, "support", time.Date(2026, 11, 25, 10, 10, 0, 0, time.UTC)) // the 11:00 Paris bucket
	eventually(t, "scheduled", func() bool { return types(env, schedule.Stream(id)) == "CallbackScheduled" })

	const v1 = "/genesys/1/service/callback/support/availability?"
	var got map[string]int
	eventually(t, "the booking counted", func() bool {
		status, _, b := gmsGet(t, env, v1+"start=2026-11-25T10:00:00.000Z&end=2026-11-25T11:30:00.000Z")
		got = nil
		_ = json.Unmarshal(b, &got)
		return status == 200 && got["2026-11-25T10:00:00.000Z"] == 1
	})
	if len(got) != 3 || got["2026-11-25T10:30:00.000Z"] != 2 || got["2026-11-25T11:00:00.000Z"] != 2 {
		t.Errorf("v1 = %v", got)
	}
	// number-of-days and max-time-slots: the day from now, the first four.
	if status, _, b := gmsGet(t, env, v1+"number-of-days=1&max-time-slots=4"); status != 200 || len(decode[map[string]int](t, b)) != 4 {
		t.Errorf("number-of-days: %d %s", status, b)
	}

	// Version 2: the ms forms, the visitor's zone, the full slots too.
	const v2 = "/genesys/2/service/callback/support/availability?"
	start, end := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	status, ctype, b := gmsGet(t, env, v2+"start-ms="+ms(start)+"&end-ms="+ms(end)+"&timezone=America/New_York&report-busy=true")
	a := decode[gms.V2](t, b)
	if status != 200 || ctype != "application/json" || a.DurationMin != 30 || a.Timezone != "America/New_York" || len(a.Slots) != 2 ||
		a.Slots[0] != (gms.V2Slot{UTCTime: "2026-11-25T10:00:00.000Z", LocalTime: "2026-11-25T05:00:00.000", Capacity: 1, Total: 2}) {
		t.Errorf("v2: %d %s %+v", status, ctype, a)
	}

	for _, c := range []struct {
		path, field string
		status      int
		exception   string
	}{
		{v1 + "timezone=Europe/Paris", "timezone", 400, gms.ExceptionCallback}, // version 2 only
		{v1 + "start=tomorrow", "start", 400, gms.ExceptionCallback},
		{v2 + "end-ms=soon", "end-ms", 400, gms.ExceptionCallback},
		{v1 + "number-of-days=30", "number-of-days", 400, gms.ExceptionCallback},
		{v1 + "max-time-slots=0", "max-time-slots", 400, gms.ExceptionCallback},
		{"/genesys/1/service/callback/sales/availability", "service", 404, gms.ExceptionResource},  // no capacity
		{"/genesys/1/service/callback/nosuch/availability", "service", 404, gms.ExceptionResource}, // not in the file
	} {
		status, ctype, b := gmsGet(t, env, c.path)
		e := decode[gms.Error](t, b)
		if status != c.status || ctype != "application/json" || e.Field != c.field || e.Code != c.status || e.Exception != c.exception {
			t.Errorf("%s: %d %s %s", c.path, status, ctype, b)
		}
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}
