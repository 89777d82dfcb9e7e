package eventstore

import "context"

type sharedSyncKey struct{}

// WithSharedSync returns a context whose appends may wait a moment to
// share their sync with the next append. An adapter that groups commits
// under one sync (the embedded store) holds such an append for a few
// milliseconds at most, for company, instead of syncing for it alone; the
// append still returns only once it is durable, so nothing a caller was
// told is written can be lost. Adapters that commit each append on its own
// ignore it.
//
// It is for writes off every caller's path: history's copies of the events
// it records were half the platform's appends, each with a sync of its
// own, although they are made just as the next service's reaction to the
// same event is appended (issue 13's cost per callback).
func WithSharedSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedSyncKey{}, true)
}

// SharedSyncOf says whether ctx's appends may wait to share a sync;
// adapters call it in Append.
func SharedSyncOf(ctx context.Context) bool {
	v, _ := ctx.Value(sharedSyncKey{}).(bool)
	return v
}
