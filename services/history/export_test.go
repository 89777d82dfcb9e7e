package history

// HeldCallbacks is how many callbacks the service holds in memory.
func (s *Service) HeldCallbacks() int { return s.view.size() }
