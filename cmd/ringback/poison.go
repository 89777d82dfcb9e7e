package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/ringback/ringback/libs/bus"
	"github.com/ringback/ringback/libs/bus/kafka"
	"github.com/ringback/ringback/libs/envelope"
)

const poisonUsage = `usage: ringback poison <list|redrive> [flags]

  list      print the messages on the poison topic: id, event type, original
            topic, stream, handler, when and why it was set aside
  redrive   publish chosen poisoned messages again to their original topic
            (--id ID, repeatable, or --all); consumers that handled one
            already drop it by its event id, so a re-drive may be repeated

Flags (also RINGBACK_<FLAG> in the environment, as for serve):
  --kafka-brokers, --kafka-tls…, --kafka-sasl… as for serve;
  --poison-topic (default ringback.poison); list: --json; redrive: --id, --all
`

// RedrivenFromKey is metadata on a re-driven message: where on the poison
// topic it was taken from, for the audit trail of an event delivered late.
const RedrivenFromKey = "redriven_from"

// poisonKeys is the metadata the poison middleware adds; a re-driven
// message goes without it.
var poisonKeys = []string{middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey,
	middleware.PoisonedHandlerKey, middleware.PoisonedSubscriberKey, bus.PoisonedAtKey}

// poisonFlags are the flags of both poison subcommands.
type poisonFlags struct {
	brokers string
	kafka   KafkaConfig
	topic   string
	json    bool
	ids     []string
	all     bool
}

func poison(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, poisonUsage)
		if len(args) == 0 {
			return &usageError{"poison: no subcommand"}
		}
		return nil
	}
	sub := args[0]
	if sub != "list" && sub != "redrive" {
		fmt.Fprint(stderr, poisonUsage)
		return &usageError{fmt.Sprintf("poison: unknown subcommand %q", sub)}
	}
	var f poisonFlags
	fs := flag.NewFlagSet("ringback poison "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	f.kafka.RegisterFlags(fs)
	fs.StringVar(&f.topic, "poison-topic", bus.PoisonTopic, "the poison topic")
	if sub == "list" {
		fs.BoolVar(&f.json, "json", false, "one JSON object per message, with the full error, instead of a table")
	} else {
		fs.Func("id", "id of a poisoned message to re-drive (the ID column of list); repeatable", func(s string) error {
			f.ids = append(f.ids, s)
			return nil
		})
		fs.BoolVar(&f.all, "all", false, "re-drive every message on the poison topic")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("poison %s: unexpected argument %q", sub, fs.Arg(0))}
	}
	if err := envDefaults(fs, getenv); err != nil {
		return err
	}
	if err := f.kafka.Validate(); err != nil {
		return err
	}
	pubCfg, subCfg, err := f.kafka.configs(brokerList(f.brokers))
	if err != nil {
		return err
	}
	scan := kafka.ScanConfig{Brokers: subCfg.Brokers, TLS: subCfg.TLS, SASL: subCfg.SASL}
	if sub == "list" {
		return poisonList(ctx, scan, f, stdout)
	}
	if f.all == (len(f.ids) > 0) {
		return &usageError{"poison redrive: give --id (one or more) or --all"}
	}
	return poisonRedrive(ctx, scan, pubCfg, f, stdout)
}

// envDefaults sets every flag not given on the command line from its
// RINGBACK_<FLAG> variable, as serve does.
func envDefaults(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if v := getenv(envName(fl.Name)); v != "" && !given[fl.Name] && err == nil {
			if serr := fs.Set(fl.Name, v); serr != nil {
				err = &usageError{fmt.Sprintf("%s: %v", envName(fl.Name), serr)}
			}
		}
	})
	return err
}

// poisoned is one message on the poison topic, as list shows it.
type poisoned struct {
	ID         string    `json:"id"`
	Type       string    `json:"type,omitempty"`
	Topic      string    `json:"topic"`
	Key        string    `json:"key,omitempty"`
	Handler    string    `json:"handler,omitempty"`
	PoisonedAt time.Time `json:"poisoned_at"`
	Error      string    `json:"error"`
	Partition  int       `json:"partition"`
	Offset     int64     `json:"offset"`
}

func describe(r kafka.Record) poisoned {
	md := r.Message.Metadata
	at, err := time.Parse(time.RFC3339Nano, md.Get(bus.PoisonedAtKey))
	if err != nil {
		at = r.Time // poisoned before the time was kept: the record's timestamp
	}
	return poisoned{
		ID:         r.Message.UUID,
		Type:       md.Get(envelope.KeyType),
		Topic:      md.Get(middleware.PoisonedTopicKey),
		Key:        md.Get(kafka.PartitionKeyMetadata),
		Handler:    md.Get(middleware.PoisonedHandlerKey),
		PoisonedAt: at.UTC(),
		Error:      md.Get(middleware.ReasonForPoisonedKey),
		Partition:  r.Partition,
		Offset:     r.Offset,
	}
}

func scanPoison(ctx context.Context, cfg kafka.ScanConfig, topic string) ([]kafka.Record, error) {
	var recs []kafka.Record
	err := kafka.Scan(ctx, cfg, topic, func(r kafka.Record) error {
		recs = append(recs, r)
		return nil
	})
	if errors.Is(err, kafka.ErrNoTopic) {
		return nil, nil // nothing was ever poisoned
	}
	if err != nil {
		return nil, err
	}
	// Oldest first across partitions, as an operator reads a log.
	sort.SliceStable(recs, func(i, j int) bool { return describe(recs[i]).PoisonedAt.Before(describe(recs[j]).PoisonedAt) })
	return recs, nil
}

func poisonList(ctx context.Context, cfg kafka.ScanConfig, f poisonFlags, stdout io.Writer) error {
	recs, err := scanPoison(ctx, cfg, f.topic)
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(describe(r)); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTYPE\tTOPIC\tKEY\tHANDLER\tPOISONED AT\tERROR")
	for _, r := range recs {
		p := describe(r)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, dash(p.Type), dash(p.Topic), dash(p.Key), dash(p.Handler),
			p.PoisonedAt.Format(time.RFC3339), oneLine(p.Error, 100))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d poisoned message(s) on %s\n", len(recs), f.topic)
	return nil
}

func poisonRedrive(ctx context.Context, cfg kafka.ScanConfig, pubCfg kafka.PublisherConfig, f poisonFlags, stdout io.Writer) error {
	recs, err := scanPoison(ctx, cfg, f.topic)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range f.ids {
		want[id] = true
	}
	// A message several handlers gave up on is on the poison topic once per
	// handler; its topic reaches every group, so it goes back once.
	type target struct{ id, topic string }
	done := map[target]bool{}
	found := map[string]bool{}
	var chosen []kafka.Record
	for _, r := range recs {
		p := describe(r)
		if !f.all && !want[p.ID] {
			continue
		}
		found[p.ID] = true
		if p.Topic == "" {
			return fmt.Errorf("poison redrive: message %s (%s/%d) does not say which topic it came from", p.ID, f.topic, r.Offset)
		}
		if done[target{p.ID, p.Topic}] {
			continue
		}
		done[target{p.ID, p.Topic}] = true
		chosen = append(chosen, r)
	}
	// All or nothing: a mistyped id re-drives none.
	var missing []string
	for _, id := range f.ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("poison redrive: not on %s: %s (nothing re-driven)", f.topic, strings.Join(missing, ", "))
	}

	pub, err := kafka.NewPublisher(pubCfg, watermill.NopLogger{})
	if err != nil {
		return fmt.Errorf("poison redrive: %w", err)
	}
	defer pub.Close()
	for _, r := range chosen {
		p := describe(r)
		// Same UUID, payload and metadata, partition key included: the
		// message lands on its stream's partition and consumers that had
		// handled it drop it by event id.
		msg := message.NewMessage(r.Message.UUID, r.Message.Payload)
		for k, v := range r.Message.Metadata {
			msg.Metadata.Set(k, v)
		}
		for _, k := range poisonKeys {
			delete(msg.Metadata, k)
		}
		msg.Metadata.Set(RedrivenFromKey, fmt.Sprintf("%s/%d/%d", f.topic, r.Partition, r.Offset))
		msg.SetContext(ctx)
		if err := pub.Publish(p.Topic, msg); err != nil {
			return fmt.Errorf("poison redrive %s to %s: %w", p.ID, p.Topic, err)
		}
		fmt.Fprintf(stdout, "re-driven %s to %s\n", p.ID, p.Topic)
	}
	fmt.Fprintf(stdout, "%d message(s) re-driven\n", len(chosen))
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line: an error may span several.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
