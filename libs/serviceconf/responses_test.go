package serviceconf

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResponsesAreTheBaseWithTheServicesOwn(t *testing.T) {
	set, err := Parse([]byte(`services:
  "*":
    responses:
      - {name: Greeting, text: "Hello, this is ringback returning your call.", tags: [opening]}
      - {name: Closing, text: "Thank you for your time.", tags: [closing]}
  support:
    responses:
      - {name: closing, text: "Thank you for calling support.", tags: [Closing]}
      - {name: Refund policy, text: "Refunds are paid within 14 days.", tags: [billing, refund]}
  sales:
    responses: []
`), time.LoadLocation)
	if err != nil {
		t.Fatal(err)
	}
	names := func(rs []Response) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name+"="+r.Text)
		}
		return out
	}
	sup := set.Of("support").Responses
	want := []string{"Greeting=Hello, this is ringback returning your call.", "closing=Thank you for calling support.",
		"Refund policy=Refunds are paid within 14 days."}
	if got := names(sup); !slices.Equal(got, want) {
		t.Errorf("support: %q\nwant %q", got, want)
	}
	if sup[1].Tags[0] != "closing" {
		t.Errorf("tags are lower-cased: %q", sup[1].Tags)
	}
	if got := names(set.Of("billing").Responses); len(got) != 2 || !strings.HasPrefix(got[0], "Greeting=") {
		t.Errorf("an unlisted service has the base's: %q", got)
	}
	if got := set.Of("sales").Responses; len(got) != 2 {
		t.Errorf("an empty list adds nothing to the base: %q", names(got))
	}
}

func TestSearchResponses(t *testing.T) {
	svc := Service{Responses: []Response{
		{Name: "Greeting", Text: "Hello, this is ringback.", Tags: []string{"opening"}},
		{Name: "Refund policy", Text: "Refunds are paid within 14 days.", Tags: []string{"billing"}},
		{Name: "Billing address", Text: "Please confirm your address.", Tags: []string{"billing"}},
	}}
	cases := []struct {
		q    string
		want []string
	}{
		{"", []string{"Greeting", "Refund policy", "Billing address"}},
		{"BILLING", []string{"Billing address", "Refund policy"}}, // the name's match first
		{"refund days", []string{"Refund policy"}},
		{"refund hello", nil},
		{"opening", []string{"Greeting"}},
	}
	for _, c := range cases {
		var got []string
		for _, r := range svc.Search(c.q) {
			got = append(got, r.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.q, got, c.want)
		}
	}
}
