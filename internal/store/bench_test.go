package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// BenchmarkCommitMessages commits batches of 64 messages with 2 recipients
// each (one live session, one member-bound), the broker's group-commit shape.
func BenchmarkCommitMessages(b *testing.B) {
	const size = 64
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			f := newFixture(b, be.Open(b))
			ctx := context.Background()
			n := 0
			for b.Loop() {
				msgs := make([]store.NewMessage, size)
				for i := range msgs {
					n++
					msgs[i] = f.msg(fmt.Sprintf("bench-%d", n), to(f.bob, "s1"), to(f.carol, ""))
					msgs[i].ClientMessageID = msgs[i].ID
				}
				if _, err := f.s.CommitMessages(ctx, msgs, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
