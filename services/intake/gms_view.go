package intake

// The GMS-compatible Callback API's mapping, pure: a GMS request's fields
// to ours, a callback to GMS's record, our states and reasons to GMS's,
// our field names to GMS's in errors. gms.go does the I/O.

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/ringback/ringback/libs/gms"
	"github.com/ringback/ringback/libs/serviceconf"
	callbackv1 "github.com/ringback/ringback/proto/ringback/callback/v1"
	"github.com/ringback/ringback/services/intake/callback"
	"github.com/ringback/ringback/services/intake/index"
)

// GMS's keys start with an underscore; every other key of a request is
// the site's own, kept as case data.
const (
	gmsNumber     = "_customer_number"
	gmsDesired    = "_desired_time"
	gmsNewDesired = "_new_desired_time"
)

// gmsIgnored are the GMS keys that configure GMS's own plumbing (its
// queue, its orchestration server, its statistics, its office-hours
// service, push notifications): ringback's services file plays their part,
// so a site that sends them is served as if it had not. Any other key
// starting with an underscore is refused (400 naming it), since it would
// ask for something ringback does not do (README: GMS-compatible
// Callback API).
var gmsIgnored = map[string]bool{
	"_urs_virtual_queue": true, "_vq": true, "_target": true, "_ors": true,
	"_request_queue_time_stat": true, "_request_ewt_service": true, "_business_hours_service": true,
	"_device_os": true, "_device_notification_id": true, "_media_type": true,
}

// parseGMSCreate is a GMS create request (its body's fields) for service
// as our create takes it; region is the country of a national number.
func parseGMSCreate(service string, fields map[string]string, region string) (createRequest, error) {
	req := createRequest{Service: service}
	for k, v := range fields {
		switch {
		case k == gmsNumber:
			n, err := gms.Number(v, region)
			if err != nil {
				return req, gms.BadField(gmsNumber, err.Error())
			}
			req.PhoneNumber = n
		case k == gmsDesired:
			if v == "" {
				continue // as soon as possible, as when absent
			}
			t, err := gms.ParseTime(v)
			if err != nil {
				return req, gms.BadField(gmsDesired, err.Error())
			}
			req.DesiredTime = t.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
		case k == "_media_type" && v != "" && !strings.EqualFold(v, "voice"):
			return req, gms.BadField(k, "ringback calls back by voice only")
		case gmsIgnored[k]:
		case strings.HasPrefix(k, "_"):
			return req, gms.BadField(k, "not supported by ringback's GMS-compatible API")
		default:
			if len(k) > callback.MaxCaseKey {
				return req, gms.BadField(k, fmt.Sprintf("a key is at most %d bytes", callback.MaxCaseKey))
			}
			if req.CaseData == nil {
				req.CaseData = map[string]string{}
			}
			req.CaseData[k] = v
		}
	}
	if req.PhoneNumber == "" {
		return req, gms.BadField(gmsNumber, "is required")
	}
	if len(req.CaseData) > callback.MaxCaseFields {
		return req, gms.BadField("body", fmt.Sprintf("at most %d keys besides GMS's own", callback.MaxCaseFields))
	}
	return req, nil
}

// parseGMSReschedule is the new time of a GMS reschedule request: only
// _new_desired_time may change; a site's keys cannot be edited.
func parseGMSReschedule(fields map[string]string) (string, error) {
	for k := range fields {
		if k != gmsNewDesired {
			return "", gms.BadField(k, "only "+gmsNewDesired+" may be changed")
		}
	}
	v := fields[gmsNewDesired]
	if v == "" {
		return "", gms.BadField(gmsNewDesired, "is required")
	}
	t, err := gms.ParseTime(v)
	if err != nil {
		return "", gms.BadField(gmsNewDesired, err.Error())
	}
	return t.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), nil
}

// GMS's states.
const (
	gmsScheduled  = "SCHEDULED"
	gmsQueued     = "QUEUED"
	gmsRouting    = "ROUTING"
	gmsProcessing = "PROCESSING"
	gmsCompleted  = "COMPLETED"
)

// gmsState is a callback's state and, once completed, the reason, as GMS
// names them. ROUTING (the contact reached, waiting for an agent) never
// is: ringback offers the callback to an agent first, who then dials, so
// a callback goes from QUEUED to PROCESSING.
func gmsState(st callback.State) (state, reason string) {
	switch st.Status {
	case callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED:
		return gmsScheduled, ""
	case callbackv1.CallbackState_CALLBACK_STATE_QUEUED:
		return gmsQueued, ""
	case callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS:
		return gmsProcessing, ""
	case callbackv1.CallbackState_CALLBACK_STATE_CANCELLED:
		return gmsCompleted, "CANCELLED"
	}
	ours, _, _ := strings.Cut(st.Reason, ":")
	switch ours {
	case "":
		return gmsCompleted, "AGENT_CONNECTED"
	case "FAIL_EXPIRED":
		return gmsCompleted, "FAIL_TIMEOUT_TTL"
	case "FAIL_BUSY", "FAIL_NO_ANSWER", "FAIL_FAILED":
		return gmsCompleted, "FAIL_CALL_TO_CUSTOMER"
	}
	return gmsCompleted, ours // ringback's own (FAIL_DISPOSITION): GMS has none
}

// gmsStates are our states a GMS state filter matches.
var gmsStates = map[string][]callbackv1.CallbackState{
	gmsScheduled:  {callbackv1.CallbackState_CALLBACK_STATE_SCHEDULED},
	gmsQueued:     {callbackv1.CallbackState_CALLBACK_STATE_QUEUED},
	gmsRouting:    nil,
	gmsProcessing: {callbackv1.CallbackState_CALLBACK_STATE_IN_PROGRESS},
	gmsCompleted:  {callbackv1.CallbackState_CALLBACK_STATE_COMPLETED, callbackv1.CallbackState_CALLBACK_STATE_CANCELLED},
}

// gmsURL is a callback's address on the GMS-compatible API.
func gmsURL(service, id string) string { return "/genesys/1/service/callback/" + service + "/" + id }

// gmsRecord is a callback as GMS shows it: its keys, always strings, then
// with full its number and the site's keys (case data). svc is its
// service's configuration: the expiration is the request's time plus the
// service's time to live, when the scheduler completes it unconnected.
func gmsRecord(st callback.State, svc serviceconf.Service, full bool) map[string]string {
	state, reason := gmsState(st)
	service := st.Request.GetService()
	out := map[string]string{"_id": st.ID, "_callback_state": state, "_service_name": service, "_url": gmsURL(service, st.ID)}
	if reason != "" {
		out["_callback_reason"] = reason
	}
	requested := st.Request.GetRequestedAt().AsTime()
	switch {
	case !st.ScheduledFor.IsZero():
		out["_desired_time"] = gms.FormatTime(st.ScheduledFor)
	case st.Request.GetDesiredTime() != nil:
		out["_desired_time"] = gms.FormatTime(st.Request.GetDesiredTime().AsTime())
	default:
		out["_desired_time"] = gms.FormatTime(requested) // as soon as possible: from its request
	}
	if svc.TTL > 0 {
		out["_expiration_time"] = gms.FormatTime(requested.Add(svc.TTL))
	}
	if !full {
		return out
	}
	out["_customer_number"] = st.Request.GetPhoneNumber()
	for k, v := range st.Request.GetCaseData() {
		if !strings.HasPrefix(k, "_") { // a /v1 request's key cannot pass for GMS's
			out[k] = v
		}
	}
	return out
}

// Our field names in GMS's, per request.
var (
	gmsCreateNames     = map[string]string{"phone_number": gmsNumber, "desired_time": gmsDesired, "case_data": "body"}
	gmsRescheduleNames = map[string]string{"desired_time": gmsNewDesired}
)

// gmsFilter is a GMS query by properties: the callbacks of a service that
// have all (AND, GMS's default) or any (OR) of the properties asked. The
// index answers _customer_number, _callback_state and _id; a case-data key
// needs the callback's stream.
type gmsFilter struct {
	or       bool
	number   string
	id       string
	states   []callbackv1.CallbackState
	byState  bool
	caseData map[string]string
}

// parseGMSQuery reads GET .../{service}?key=value...: operand, GMS's
// properties, and the site's keys; region is the country of a national
// number.
func parseGMSQuery(v url.Values, region string) (gmsFilter, error) {
	var f gmsFilter
	for k, vals := range v {
		if len(vals) > 1 {
			return f, gms.BadField(k, "given more than once")
		}
		val := vals[0]
		switch {
		case k == "operand":
			switch strings.ToUpper(val) {
			case "AND":
			case "OR":
				f.or = true
			default:
				return f, gms.BadField(k, "must be AND or OR")
			}
		case k == gmsNumber:
			n, err := gms.Number(val, region)
			if err != nil {
				return f, gms.BadField(k, err.Error())
			}
			f.number = n
		case k == "_callback_state":
			states, ok := gmsStates[strings.ToUpper(val)]
			if !ok {
				return f, gms.BadField(k, "must be SCHEDULED, QUEUED, ROUTING, PROCESSING or COMPLETED")
			}
			f.states, f.byState = states, true
		case k == "_id":
			f.id = val
		case strings.HasPrefix(k, "_"):
			return f, gms.BadField(k, "not a property ringback can query: _customer_number, _callback_state, _id and the site's own keys are")
		default:
			if f.caseData == nil {
				f.caseData = map[string]string{}
			}
			f.caseData[k] = val
		}
	}
	return f, nil
}

// indexed are the outcomes of the properties the index answers for it.
func (f gmsFilter) indexed(it index.Item) []bool {
	var out []bool
	if f.number != "" {
		out = append(out, it.PhoneNumber == f.number)
	}
	if f.id != "" {
		out = append(out, it.ID == f.id)
	}
	if f.byState {
		out = append(out, slices.ContainsFunc(f.states, func(s callbackv1.CallbackState) bool {
			return strings.TrimPrefix(s.String(), "CALLBACK_STATE_") == it.State
		}))
	}
	return out
}

// decided says whether it matches or not on the index's properties alone.
func (f gmsFilter) decided(it index.Item) (match, sure bool) {
	got := f.indexed(it)
	switch {
	case f.or && slices.Contains(got, true):
		return true, true
	case !f.or && slices.Contains(got, false):
		return false, true
	case len(f.caseData) == 0:
		return !f.or || len(got) == 0, true // OR of nothing asked: everything
	}
	return false, false
}

// matchCase is the outcome once its case data is read.
func (f gmsFilter) matchCase(caseData map[string]string) bool {
	for k, v := range f.caseData {
		have, ok := caseData[k]
		if f.or && ok && have == v {
			return true
		}
		if !f.or && (!ok || have != v) {
			return false
		}
	}
	return !f.or
}
