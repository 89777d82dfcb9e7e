package agent

// Command is one of the commands Decide takes, and nothing else: sealed by
// an unexported method, so that a value of another type is a compile
// error at the caller, not an "unknown command" at run time.
type Command interface{ command() }

func (Login) command()            {}
func (Logout) command()           {}
func (SetState) command()         {}
func (EndAfterCallWork) command() {}
func (Reserve) command()          {}
func (Release) command()          {}
