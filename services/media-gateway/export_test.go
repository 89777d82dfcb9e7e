package mediagateway

// Crash makes the instance behave as after kill -9, for tests of what the
// others do about it: it writes nothing more and stops renewing its lease;
// cancelling Run's context then frees what it holds, silently.
func (s *Service) Crash() {
	s.crashed.Store(true)
	s.haltNow()
}
