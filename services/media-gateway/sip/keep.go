package sip

import "sync"

// What the service needs of the stack's life beyond Run's context: the
// drain (Keep) and, for tests of what survives a crash, a kill -9 (Kill).

// Keep holds the SIP stack up after Run's ctx is done, until release is
// called: a draining service lets its calls finish and hangs up the rest
// (BYEs need the stack) before Run hangs up anything. Call it before Run's
// ctx is done; release is idempotent.
func (g *Gateway) Keep() (release func()) {
	g.keepers.Add(1)
	var once sync.Once
	return func() { once.Do(g.keepers.Done) }
}

// waitKept waits for every Keep to be released, or for the listener to
// fail (its error).
func (g *Gateway) waitKept(serveErr <-chan error) error {
	kept := make(chan struct{})
	go func() { // ends when the last keeper releases, which Keep requires
		g.keepers.Wait()
		close(kept)
	}()
	select {
	case <-kept:
		return nil
	case err := <-serveErr:
		return g.serveFailed(err)
	}
}

// Kill stops the gateway as kill -9 would, for tests of what survives a
// crash: from now on it sends nothing (no BYE, no CANCEL, no refresh) and
// its socket is closed. Run still has to be stopped to free the rest.
func (g *Gateway) Kill() {
	g.killed.Store(true)
	_ = g.conn.Close()
	g.streams.close()
}
