package agentauth

// ValidID says whether id has the form of an agent id, for a request that
// names an agent (a preferred agent) without being one.
func ValidID(id string) bool { return agentID.MatchString(id) }
