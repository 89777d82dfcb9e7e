// Command ringback runs the web callback platform: every service in one
// process on embedded defaults (`ringback serve`), or one service per
// process on Kafka and EventStoreDB (`ringback serve --target=router ...`).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "ringback:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "ringback:", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

const usage = `usage: ringback <command> [flags]

commands:
  serve     run the platform (ringback serve -h for its flags)
  poison    list messages no handler could apply, re-drive chosen ones (Kafka)
  replay    compare a fold of the store with a running platform, or publish a range of events to Kafka again
  recording write the WAV of a sealed call recording, while its contact is not erased
  events    decode the records of ringback's Kafka topics (events decode -h; docs/events.md)
  version   print the version
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{"no command"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "poison":
		return poison(ctx, args[1:], getenv, stdout, stderr)
	case "replay":
		return replay(ctx, args[1:], getenv, stdout, stderr)
	case "recording":
		return recording(ctx, args[1:], getenv, stderr)
	case "events":
		return events(ctx, args[1:], os.Stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "ringback", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &usageError{fmt.Sprintf("unknown command %q", args[0])}
}

var version = "dev"
