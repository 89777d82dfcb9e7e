package queue

// AgentCommand is one of the commands DecideAgent takes, and nothing else:
// sealed by an unexported method, so that another type is a compile error.
type AgentCommand interface{ agentCommand() }

func (SetAvailability) agentCommand() {}
func (SetSkills) agentCommand()       {}
func (StopOffering) agentCommand()    {}
