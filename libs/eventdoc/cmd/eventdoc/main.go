// Command eventdoc writes docs/events.md, the event catalogue, from proto/
// (make events).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/ringback/ringback/libs/eventdoc"
)

func main() {
	root := flag.String("root", "..", "the repository's root")
	out := flag.String("out", "", "file to write (default: <root>/docs/events.md)")
	flag.Parse()
	if *out == "" {
		*out = *root + "/docs/events.md"
	}
	doc, err := eventdoc.Generate(context.Background(), *root)
	if err == nil {
		err = os.WriteFile(*out, doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventdoc:", err)
		os.Exit(1)
	}
}
