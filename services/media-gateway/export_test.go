package mediagateway

import "context"

// Crash makes the instance behave as after kill -9, for tests of what the
// others do about it: it writes nothing more and stops renewing its lease;
// cancelling Run's context then frees what it holds, silently.
func (s *Service) Crash() {
	s.crashed.Store(true)
	s.haltNow()
}

// PauseHeartbeat stops (true) or resumes (false) the lease's renewal, as a
// process paused past its lease and then woken would.
func (s *Service) PauseHeartbeat(paused bool) { s.paused.Store(paused) }

// Fenced is a context carrying the instance's lease as a fence, for tests
// of what the store lets it write.
func (s *Service) Fenced(ctx context.Context) context.Context { return s.fence(ctx) }
