package agentsession

import (
	"net/http"
	"time"

	"github.com/ringback/ringback/libs/httpx"
	"github.com/ringback/ringback/services/agent-session/interaction"
)

// saveDraft keeps what the agent is typing (issue 15): the desktop sends the
// note and the case form a moment after the last key, and before Done,
// which files whatever was never saved by hand.
func (s *Service) saveDraft(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Note        string            `json:"note"`
		CaseEditing bool              `json:"case_editing"`
		CaseData    map[string]string `json:"case_data"`
	}
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	d := interaction.Draft{Note: body.Note, CaseEditing: body.CaseEditing, CaseData: body.CaseData}
	return s.command(w, r, func(a string, now time.Time) interaction.Command {
		return interaction.SaveDraft{Agent: a, Draft: d, At: now}
	}, nil)
}
