package broker

import (
	"context"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

const (
	maxCommitBatch = 256
	maxAckBatch    = 1024
	// idempotencyWindow is how long a clientMessageId maps to its message.
	idempotencyWindow = 24 * time.Hour
)

// commitReq is one send waiting for its transaction.
type commitReq struct {
	msg   store.NewMessage
	frame []byte // the push frame, encoded once for every recipient
	done  chan commitOutcome
}

type commitOutcome struct {
	result store.CommitResult
	err    error
}

// committer is the single writer of messages and delivery acks: it batches
// whatever is queued into one transaction (group commit), so throughput
// grows with load instead of paying one fsync per message. Pushes to online
// recipients go out only after the commit and come from memory, not from a
// second read of the store.
type committer struct {
	b       *Broker
	reqs    chan *commitReq
	acks    chan store.DeliveryKey
	stopped chan struct{}
	quit    chan struct{}

	// closing guards reqs: senders hold it shared while queueing, stop takes
	// it exclusively, so no request can slip in after the final drain.
	closing sync.RWMutex
	closed  bool
}

func newCommitter(b *Broker) *committer {
	return &committer{
		b:       b,
		reqs:    make(chan *commitReq, 4096),
		acks:    make(chan store.DeliveryKey, 16384),
		stopped: make(chan struct{}),
		quit:    make(chan struct{}),
	}
}

func (c *committer) start() { go c.run() }

// stop finishes every queued request and ack, then returns.
func (c *committer) stop() {
	c.closing.Lock()
	if !c.closed {
		c.closed = true
		close(c.quit)
	}
	c.closing.Unlock()
	<-c.stopped
}

// commit queues a message and waits for its transaction.
func (c *committer) commit(ctx context.Context, msg store.NewMessage, frame []byte) (store.CommitResult, error) {
	req := &commitReq{msg: msg, frame: frame, done: make(chan commitOutcome, 1)}
	c.closing.RLock()
	if c.closed {
		c.closing.RUnlock()
		return store.CommitResult{}, errShuttingDown
	}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		c.closing.RUnlock()
		return store.CommitResult{}, ctx.Err()
	}
	c.closing.RUnlock()
	out := <-req.done // always answered: run drains reqs before it stops
	return out.result, out.err
}

// markDelivered queues an ack; if the queue is full the row simply stays
// pending and is delivered again later (at-least-once allows that).
func (c *committer) markDelivered(k store.DeliveryKey) {
	select {
	case c.acks <- k:
	default:
		c.b.metrics.droppedAcks.Inc()
	}
}

func (c *committer) run() {
	defer close(c.stopped)
	batch := make([]*commitReq, 0, maxCommitBatch)
	acks := make([]store.DeliveryKey, 0, maxAckBatch)
	for {
		select {
		case req := <-c.reqs:
			batch = append(batch[:0], req)
			batch = drain(c.reqs, batch, maxCommitBatch)
			c.commitBatch(batch)
		case k := <-c.acks:
			acks = append(acks[:0], k)
			acks = drain(c.acks, acks, maxAckBatch)
			c.flushAcks(acks)
		case <-c.quit:
			for len(c.reqs) > 0 || len(c.acks) > 0 {
				c.commitBatch(drain(c.reqs, batch[:0], maxCommitBatch))
				c.flushAcks(drain(c.acks, acks[:0], maxAckBatch))
			}
			return
		}
	}
}

func drain[T any](ch chan T, buf []T, max int) []T {
	for len(buf) < max {
		select {
		case v := <-ch:
			buf = append(buf, v)
		default:
			return buf
		}
	}
	return buf
}

func (c *committer) commitBatch(batch []*commitReq) {
	if len(batch) == 0 {
		return
	}
	msgs := make([]store.NewMessage, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	results, err := c.b.store.CommitMessages(ctx, msgs, idempotencyWindow)
	cancel()
	c.b.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		c.b.log.Error("message batch commit failed; senders get unavailable", "batch", len(batch), "err", err)
		for _, r := range batch {
			r.done <- commitOutcome{err: err}
		}
		return
	}
	for i, r := range batch {
		if !results[i].Duplicate {
			c.b.dispatch(&r.msg, r.frame)
		}
		r.done <- commitOutcome{result: results[i]}
	}
}

func (c *committer) flushAcks(acks []store.DeliveryKey) {
	if len(acks) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.b.store.MarkDelivered(ctx, acks, c.b.now()); err != nil {
		// The rows stay pending and are pushed again on reconnect.
		c.b.log.Warn("recording deliveries failed; they will be redelivered", "count", len(acks), "err", err)
	}
}

// dispatch pushes a committed message to the recipients that are online on
// this node. Member-bound rows wake the member's sessions, which claim them.
func (b *Broker) dispatch(msg *store.NewMessage, frame []byte) {
	it := pushItem{messageID: msg.ID, priority: msg.Priority, frame: frame}
	for _, r := range msg.Recipients {
		if r.SessionID != "" {
			if s := b.hub.lookup(msg.MeshID, memberSession{r.MemberID, r.SessionID}); s != nil {
				s.offer(it)
			}
			continue
		}
		for _, s := range b.hub.memberSessions(msg.MeshID, r.MemberID) {
			if !s.ephemeral {
				s.requestSync()
			}
		}
	}
	b.metrics.routed.WithLabelValues(msg.Priority, msg.Kind).Inc()
}

var errShuttingDown = protocol.Errorf(protocol.CodeUnavailable, "the broker is shutting down; resend to the restarted broker")
