package telephony

import "errors"

// Dialog is what another instance needs to end a leg it did not set up:
// the dialog's identifiers and route as the leg's answer left them.
type Dialog struct {
	Role         string // RoleAgent, RoleContact or RoleParty
	CallID       string
	From         string // our From header value, with our tag
	To           string // the peer's To header value, with its tag
	CSeq         uint32 // our CSeq when reported
	RemoteTarget string // the peer's Contact URI
	RouteSet     []string
	Transport    string
	RemoteAddr   string // host:port the peer answered from
	LocalContact string
	// Early: the leg rings and To has no tag yet; Via is our INVITE's top
	// Via, what a CANCEL must repeat (RFC 3261 9.1).
	Early bool
	Via   string
}

// Roles of the legs, as reported in Dialog.Role.
const (
	RoleAgent   = "agent"
	RoleContact = "contact"
	RoleParty   = "party"
)

var (
	// ErrNoAnswer: a BYE or CANCEL was sent but no answer came back in time.
	ErrNoAnswer = errors.New("no answer")
	// ErrIncompleteDialog: the recorded dialog lacks what an in-dialog
	// request needs.
	ErrIncompleteDialog = errors.New("dialog state incomplete")
)
