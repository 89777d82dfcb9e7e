package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ringback/ringback/libs/clock"
	"github.com/ringback/ringback/libs/eventstore"
)

const replayUsage = `usage: ringback replay <check|publish> [flags]

  check     fold the streams of callbacks and interactions that a range of
            the store touched, with this binary's code, and compare each with
            what a running platform answers for the same moment
            (GET …?at=<time of the stream's last event>); exit 1 on a
            difference, naming it
  publish   publish a range of the store's events to Kafka again, in the
            relay's envelope (same event ids, keys and CloudEvents
            attributes), for an analytics backfill; consumers dedupe by id

A range: --from and --to, each a store position (a number, or commit/prepare
for KurrentDB) or an RFC 3339 time, both inclusive; empty: the whole store.
--service names the services whose streams count (comma list); empty: all.
The store is opened as serve opens it (--eventstore, --data): the embedded
store is locked by a running process, so check a copy of its directory.
Flags (also RINGBACK_<FLAG> in the environment, as for serve):
`

// bound is one end of a replay range: a store position or a time.
type bound struct {
	pos    eventstore.Position
	t      time.Time
	isTime bool
	set    bool
}

// parseBound reads a --from or --to value.
func parseBound(name, v string) (bound, error) {
	if v == "" {
		return bound{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return bound{t: t, isTime: true, set: true}, nil
	}
	c, p, two := strings.Cut(v, "/")
	commit, err := strconv.ParseUint(c, 10, 64)
	prepare := commit
	if err == nil && two {
		prepare, err = strconv.ParseUint(p, 10, 64)
	}
	if err != nil {
		return bound{}, &usageError{fmt.Sprintf("--%s: %q is neither a store position (1234, or commit/prepare) nor an RFC 3339 time", name, v)}
	}
	return bound{pos: eventstore.Position{Commit: commit, Prepare: prepare}, set: true}, nil
}

// span is a replay range; from and to both count.
type span struct{ from, to bound }

// before says whether e comes before the range.
func (s span) before(e eventstore.RecordedEvent) bool {
	switch {
	case !s.from.set:
		return false
	case s.from.isTime:
		return e.Time.Before(s.from.t)
	}
	return e.Position.Less(s.from.pos)
}

// after says whether e comes after the range. Times stop the scan at the
// first event recorded later, as a fold up to a time does.
func (s span) after(e eventstore.RecordedEvent) bool {
	switch {
	case !s.to.set:
		return false
	case s.to.isTime:
		return e.Time.After(s.to.t)
	}
	return s.to.pos.Less(e.Position)
}

// scan calls fn for every event of the range whose stream keep accepts, in
// the store's order, and returns once the range or the store's head (as it
// was when the scan started) is passed.
func scan(ctx context.Context, st eventstore.Store, s span, keep func(stream string) bool, fn func(eventstore.RecordedEvent) error) error {
	hr, ok := st.(eventstore.HeadReader)
	if !ok {
		return fmt.Errorf("the %T store cannot tell its head", st)
	}
	head, err := hr.Head(ctx)
	if err != nil {
		return fmt.Errorf("store head: %w", err)
	}
	if head == (eventstore.Position{}) {
		return nil
	}
	errDone := errors.New("done")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = st.SubscribeAll(ctx, eventstore.Position{}, func(_ context.Context, e eventstore.RecordedEvent) error {
		if s.after(e) {
			return errDone
		}
		if !s.before(e) && keep(e.Stream) {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !e.Position.Less(head) {
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}

// replayFlags are the flags of both replay subcommands.
type replayFlags struct {
	cfg      Config
	from, to string
	services string

	platform, token string
	sample          int

	brokers     string
	kafka       KafkaConfig
	topicPrefix string
}

func replay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, replayUsage)
		if len(args) == 0 {
			return &usageError{"replay: no subcommand"}
		}
		return nil
	}
	sub := args[0]
	if sub != "check" && sub != "publish" {
		fmt.Fprint(stderr, replayUsage)
		return &usageError{fmt.Sprintf("replay: unknown subcommand %q", sub)}
	}
	var f replayFlags
	fs := flag.NewFlagSet("ringback replay "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	fs.StringVar(&f.cfg.Data, "data", "data", "the data directory of serve, whose store directory is the embedded store")
	fs.StringVar(&f.cfg.EventStore, "eventstore", "", "as for serve: postgres://, esdb:// or kurrentdb:// URL; empty: the embedded store under --data")
	fs.StringVar(&f.from, "from", "", "first event of the range: a store position or an RFC 3339 time; empty: the first")
	fs.StringVar(&f.to, "to", "", "last event of the range: a store position or an RFC 3339 time; empty: the store's head")
	fs.StringVar(&f.services, "service", "", "comma list of services whose streams count (intake, agent-session, router, …); empty: all")
	if sub == "check" {
		f.cfg.Personal.RegisterFlags(fs)
		fs.StringVar(&f.platform, "platform", "", "base URL of the running platform to compare with, e.g. http://ringback:8080 (required)")
		fs.StringVar(&f.token, "token", "", "bearer token of a supervisor (or API client) of every service, when the platform has an agents file; better as RINGBACK_TOKEN")
		fs.IntVar(&f.sample, "sample", 100, "most streams compared per service, the first the range touches")
	} else {
		fs.StringVar(&f.brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
		f.kafka.RegisterFlags(fs)
		fs.StringVar(&f.topicPrefix, "topic-prefix", "ringback.backfill.", "prefix of the topics published to, before the service's name; "+
			"ringback. is the live topics (their consumers drop what they handled by event id)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("replay %s: unexpected argument %q", sub, fs.Arg(0))}
	}
	if err := envDefaults(fs, getenv); err != nil {
		return err
	}
	var (
		s   span
		err error
	)
	if s.from, err = parseBound("from", f.from); err != nil {
		return err
	}
	if s.to, err = parseBound("to", f.to); err != nil {
		return err
	}
	if s.from.set && s.to.set && s.from.isTime == s.to.isTime &&
		(s.to.t.Before(s.from.t) || (!s.from.isTime && s.to.pos.Less(s.from.pos))) {
		return &usageError{"--to is before --from"}
	}
	keep, err := serviceStreams(f.services)
	if err != nil {
		return err
	}
	if err := f.cfg.validateStore(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if sub == "check" {
		if f.platform == "" {
			return &usageError{"replay check: --platform is required (the running platform's base URL)"}
		}
		if f.sample < 1 {
			return &usageError{fmt.Sprintf("--sample: %d, want at least 1", f.sample)}
		}
		if err := f.cfg.Personal.Validate(f.cfg.storeKind()); err != nil {
			return err
		}
	} else if err := f.kafka.Validate(); err != nil {
		return err
	}
	// The store as serve opens it: check reads personal fields opened, as
	// the platform answers them; publish reads them sealed, as the relay.
	f.cfg.Bus = "inproc"
	a := &App{Config: &f.cfg, Log: log, Clock: clock.Real{}}
	defer a.close()
	if err := a.openStore(ctx); err != nil {
		return err
	}
	if sub == "check" {
		return replayCheck(ctx, a.Store, s, keep, f, stdout)
	}
	return replayPublish(ctx, a.relayStore(), s, keep, f, stdout)
}

// serviceStreams is which streams --service names: those its targets write.
func serviceStreams(list string) (func(stream string) bool, error) {
	var prefixes []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, t := range targets {
			if t.Name == name {
				prefixes, found = append(prefixes, t.Prefix), true
			}
		}
		if !found {
			return nil, &usageError{fmt.Sprintf("--service: %q is no service of ringback", name)}
		}
	}
	if len(prefixes) == 0 {
		for _, t := range targets {
			prefixes = append(prefixes, t.Prefix)
		}
	}
	return func(stream string) bool { return relayed(stream, prefixes) }, nil
}
