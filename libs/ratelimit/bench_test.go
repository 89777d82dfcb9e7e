package ratelimit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringback/ringback/libs/clock"
)

// BenchmarkAllow is the cost of one decision: a client address among
// 10,000 known, every request allowed (a limit nobody reaches), on as many
// goroutines as -cpu.
func BenchmarkAllow(b *testing.B) {
	lm := New(clock.Real{}, 0)
	l := Limit{Count: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000}
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("203.0.%d.%d", i>>8, i&255)
	}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1)) * 7919
		for pb.Next() {
			i++
			if ok, _ := lm.Allow(keys[i%len(keys)], l); !ok {
				b.Error("refused")
				return
			}
		}
	})
}
