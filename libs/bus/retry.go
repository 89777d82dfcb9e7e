package bus

import (
	"math/rand/v2"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Retry returns the retry middleware configured by cfg: a handler that
// fails runs again after a pause (InitialInterval, then Multiplier times
// the last up to MaxInterval, each ±20 % so that many consumers spread
// out), at most MaxRetries times and while MaxElapsedTime allows the next
// pause; then its last error goes on (to the poison queue). An error
// caused by the message's context ending (the router is closing) is not
// retried.
//
// It stands where Watermill's Retry stood, which built a backoff, its
// options and closures for every message before the first attempt: 10 %
// of what the platform allocated per callback (issue 13), for messages
// that nearly all succeed at once. Here the first attempt costs nothing.
func Retry(cfg RetryConfig, logger watermill.LoggerAdapter) message.HandlerMiddleware {
	return retry(cfg, logger, nil)
}

// retry is Retry, calling retried (if not nil) before every attempt after
// the first.
func retry(cfg RetryConfig, logger watermill.LoggerAdapter, retried func(*message.Message)) message.HandlerMiddleware {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil || isShutdown(err) {
				return out, err
			}
			return again(cfg, logger, retried, h, msg, err)
		}
	}
}

// again retries msg, whose first attempt failed with err.
func again(cfg RetryConfig, logger watermill.LoggerAdapter, retried func(*message.Message), h message.HandlerFunc,
	msg *message.Message, err error) ([]*message.Message, error) {
	ctx := msg.Context()
	start := time.Now()
	interval := cfg.InitialInterval
	for n := 1; n <= cfg.MaxRetries; n++ {
		pause := time.Duration(float64(interval) * (0.8 + 0.4*rand.Float64()))
		if time.Since(start)+pause > cfg.MaxElapsedTime {
			break
		}
		logger.Error("Error occurred, retrying", err, watermill.LogFields{"retry_no": n, "max_retries": cfg.MaxRetries, "wait_time": pause})
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if retried != nil {
			retried(msg)
		}
		var out []*message.Message
		if out, err = h(msg); err == nil || isShutdown(err) {
			return out, err
		}
		interval = min(time.Duration(float64(interval)*cfg.Multiplier), cfg.MaxInterval)
	}
	return nil, err
}
