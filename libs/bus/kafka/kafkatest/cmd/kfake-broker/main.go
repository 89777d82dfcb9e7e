// Command kfake-broker runs an in-process Kafka-protocol broker (franz-go's
// kfake) as its own process, for end-to-end tests that start the platform
// as several processes. It prints its bootstrap address on one line of
// stdout once it accepts connections, and runs until SIGTERM or SIGINT.
//
//	kfake-broker -listen 127.0.0.1:9092 [-data DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kfake-broker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kfake-broker", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "host:port to listen on; port 0 picks a free one (printed on stdout)")
	data := fs.String("data", "", "directory to persist topics and offsets in, so a restarted broker keeps them; empty keeps everything in memory")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var opts []kfake.Opt
	if *data != "" {
		opts = append(opts, kfake.DataDir(*data))
	}
	c, err := kafkatest.NewCluster(*listen, opts...)
	if err != nil {
		return fmt.Errorf("start cluster on %s: %w", *listen, err)
	}
	defer c.Close()

	for _, addr := range c.ListenAddrs() {
		if _, err := fmt.Fprintln(stdout, addr); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}
