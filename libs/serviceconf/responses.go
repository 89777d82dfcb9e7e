package serviceconf

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Response is one standard response of the Standard Response Library
// (issue 15): a text the agent views and inserts into the note.
type Response struct {
	Name string
	Text string
	Tags []string
}

// Bounds of a standard response; the text fits the note it goes into.
const (
	maxResponses    = 500
	maxResponseName = 100
	maxResponseText = 4000
	maxResponseTags = 20
)

type responseDoc struct {
	Name string   `json:"name"`
	Text string   `json:"text"`
	Tags []string `json:"tags"`
}

// resolveResponses is the service's library: the base's ("*") responses,
// with the entry's own added after them, one of the entry's replacing the
// base's of the same name. Names are unique within an entry.
func resolveResponses(base []Response, docs []responseDoc) ([]Response, error) {
	if docs == nil {
		return base, nil
	}
	if len(docs) > maxResponses {
		return nil, fmt.Errorf("responses: %d responses, at most %d", len(docs), maxResponses)
	}
	out := slices.Clone(base)
	seen := map[string]bool{}
	for i, d := range docs {
		r, err := d.resolve()
		if err != nil {
			return nil, fmt.Errorf("responses[%d].%w", i, err)
		}
		key := strings.ToLower(r.Name)
		if seen[key] {
			return nil, fmt.Errorf("responses[%d].name: %q twice", i, r.Name)
		}
		seen[key] = true
		if j := slices.IndexFunc(out, func(b Response) bool { return strings.EqualFold(b.Name, r.Name) }); j >= 0 {
			out[j] = r
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (d responseDoc) resolve() (Response, error) {
	r := Response{Name: strings.TrimSpace(d.Name), Text: strings.TrimSpace(d.Text)}
	switch {
	case r.Name == "":
		return r, errors.New("name: required")
	case len(r.Name) > maxResponseName:
		return r, fmt.Errorf("name: %d bytes, at most %d", len(r.Name), maxResponseName)
	case r.Text == "":
		return r, errors.New("text: required")
	case len(r.Text) > maxResponseText:
		return r, fmt.Errorf("text: %d bytes, at most %d (a note's length)", len(r.Text), maxResponseText)
	case len(d.Tags) > maxResponseTags:
		return r, fmt.Errorf("tags: %d tags, at most %d", len(d.Tags), maxResponseTags)
	}
	for i, t := range d.Tags {
		if !skillName(t) {
			return r, fmt.Errorf("tags[%d]: %q: letters, digits, '_', '.' or '-', at most 64", i, t)
		}
		r.Tags = append(r.Tags, strings.ToLower(t))
	}
	return r, nil
}

// Search is the service's responses that match q: every word of q found,
// case-insensitively, in the name, the text or a tag; "" matches all.
// Responses whose name matches come first, in file order.
func (s Service) Search(q string) []Response {
	words := strings.Fields(strings.ToLower(q))
	var byName, other []Response
	for _, r := range s.Responses {
		name, hay := strings.ToLower(r.Name), strings.ToLower(r.Name+"\n"+r.Text+"\n"+strings.Join(r.Tags, " "))
		all, inName := true, len(words) > 0
		for _, w := range words {
			all = all && strings.Contains(hay, w)
			inName = inName && strings.Contains(name, w)
		}
		switch {
		case !all:
		case inName:
			byName = append(byName, r)
		default:
			other = append(other, r)
		}
	}
	return append(byName, other...)
}
