package agentauth

import "strings"

// ValidID says whether id can be an agent's: 1 to 64 letters, digits, '.',
// '_' or '-', and not a name agent-session keeps for its other streams
// (an agent "interaction-x" would have the stream agent-interaction-x, an
// interaction's: issue 13). The one rule for the agents file, sessions,
// paths and requests that name an agent.
func ValidID(id string) bool {
	return agentID.MatchString(id) && !strings.HasPrefix(id, ReservedIDPrefix)
}

// ReservedIDPrefix starts no agent id.
const ReservedIDPrefix = "interaction-"
