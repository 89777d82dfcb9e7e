package interaction

// Command is one of the commands Decide takes, and nothing else: sealed by
// an unexported method, so that a value of another type is a compile
// error at the caller, not an "unknown command" at run time.
type Command interface{ command() }

func (Present) command()         {}
func (Accept) command()          {}
func (Reject) command()          {}
func (Confirm) command()         {}
func (Withdraw) command()        {}
func (Call) command()            {}
func (EndCall) command()         {}
func (Progress) command()        {}
func (AutoRetry) command()       {}
func (Hold) command()            {}
func (SendDTMF) command()        {}
func (Mute) command()            {}
func (Record) command()          {}
func (ControlFailed) command()   {}
func (Transfer) command()        {}
func (Consult) command()         {}
func (EndConsult) command()      {}
func (PartyProgress) command()   {}
func (NoteTransfer) command()    {}
func (Flags) command()           {}
func (Reschedule) command()      {}
func (NoteCaseData) command()    {}
func (NoteDisposition) command() {}
func (Finish) command()          {}
