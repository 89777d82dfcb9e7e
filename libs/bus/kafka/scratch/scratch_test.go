package scratch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/ringback/ringback/libs/bus/kafka/kafkatest"
)

func TestCommitLatency(t *testing.T) {
	addrs := kafkatest.StartBroker(t)
	c := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	n := 20
	for i := 0; i < n; i++ {
		_, err := c.CreateTopics(context.Background(), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: fmt.Sprint("t", i), NumPartitions: 4, ReplicationFactor: -1}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{ID: fmt.Sprint("g", i), Brokers: addrs, Topics: []string{fmt.Sprint("t", i)}, HeartbeatInterval: 100 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			defer cg.Close()
			gen, err := cg.Next(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			var max, tot time.Duration
			for j := 0; j < 200; j++ {
				t0 := time.Now()
				if err := gen.CommitOffsets(map[string]map[int]int64{fmt.Sprint("t", i): {0: int64(j)}}); err != nil {
					t.Error(err)
				}
				d := time.Since(t0)
				tot += d
				if d > max {
					max = d
				}
			}
			t.Logf("group %d: avg %v max %v", i, tot/200, max)
		}()
	}
	wg.Wait()
}
