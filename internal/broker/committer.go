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

// commitReq is one send waiting for its transaction. done runs on the
// committer goroutine after the commit (or its failure): it must not block.
type commitReq struct {
	msg   store.NewMessage
	frame []byte // the push frame, encoded once for every recipient
	done  func(store.CommitResult, error)
}

// release hands a finished session's unpinned rows back to its member.
type release struct {
	meshID string
	key    memberSession
}

// committer is the single writer of messages and delivery acks: it batches
// whatever is queued into one transaction (group commit), so throughput
// grows with load instead of paying one fsync per message. Pushes to online
// recipients go out only after the commit and come from memory, not from a
// second read of the store.
type committer struct {
	b    *Broker
	reqs chan *commitReq
	acks chan store.DeliveryKey
	// Releases are never dropped: a lost one would strand a member's mail
	// on a dead session id. relMu guards relQueue; relWake signals it.
	relMu    sync.Mutex
	relQueue []release
	relWake  chan struct{}
	stopped  chan struct{}
	quit     chan struct{}

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
		relWake: make(chan struct{}, 1),
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

// submit queues a message for the next batch; done is always called exactly
// once (run drains every queued request before it stops). It blocks only
// while the queue is full, which pushes back on the senders.
func (c *committer) submit(ctx context.Context, msg store.NewMessage, frame []byte, done func(store.CommitResult, error)) {
	c.closing.RLock()
	defer c.closing.RUnlock()
	if c.closed {
		done(store.CommitResult{}, errShuttingDown)
		return
	}
	select {
	case c.reqs <- &commitReq{msg: msg, frame: frame, done: done}:
	case <-ctx.Done():
		done(store.CommitResult{}, ctx.Err())
	}
}

// releaseSession queues a release; it runs after every ack queued before it.
func (c *committer) releaseSession(meshID string, key memberSession) {
	c.relMu.Lock()
	c.relQueue = append(c.relQueue, release{meshID, key})
	c.relMu.Unlock()
	select {
	case c.relWake <- struct{}{}:
	default:
	}
}

func (c *committer) takeReleases() []release {
	c.relMu.Lock()
	defer c.relMu.Unlock()
	q := c.relQueue
	c.relQueue = nil
	return q
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
		case <-c.relWake:
			// Acks queued before the session ended must land first, or their
			// rows would be handed to the next session and pushed again.
			for len(c.acks) > 0 {
				c.flushAcks(drain(c.acks, acks[:0], maxAckBatch))
			}
			for _, r := range c.takeReleases() {
				c.release(r)
			}
		case <-c.quit:
			for {
				rels := c.takeReleases()
				if len(c.reqs) == 0 && len(c.acks) == 0 && len(rels) == 0 {
					return
				}
				c.commitBatch(drain(c.reqs, batch[:0], maxCommitBatch))
				c.flushAcks(drain(c.acks, acks[:0], maxAckBatch))
				for _, r := range rels {
					c.release(r)
				}
			}
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
	// The run loop reuses batch's array: without this, an idle broker kept
	// the last batch's messages (up to 256 frames and ciphertexts) alive.
	defer clear(batch)
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
			r.done(store.CommitResult{}, err)
		}
		return
	}
	for i, r := range batch {
		if !results[i].Duplicate {
			// The message_sent audit row was written by the commit itself.
			c.b.dispatch(&r.msg, r.frame)
			c.b.cluster.noteCommitted(&r.msg, results[i].Seq)
		}
		r.done(results[i], nil)
	}
}

func (c *committer) release(r release) {
	// A session that is live again, or may still resume, keeps its rows:
	// its unacked messages are pushed to it again when it comes back. A
	// later drop schedules its own release.
	if c.b.sessionResumable(r.meshID, r.key) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	n, err := c.b.store.ReleaseSessionRows(ctx, r.meshID, r.key.memberID, r.key.sessionID)
	cancel()
	if err != nil {
		c.b.log.Warn("releasing a finished session's messages failed; they wait for its resume", "member", r.key.memberID, "err", err)
		return
	}
	if n > 0 {
		c.b.wakeMember(r.meshID, r.key.memberID)
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
	it := pushItem{messageID: msg.ID, priority: msg.Priority, frame: frame, createdAt: msg.CreatedAt}
	for _, r := range msg.Recipients {
		key := memberSession{r.MemberID, r.SessionID}
		switch s := b.hub.lookup(msg.MeshID, key); {
		case r.SessionID == "":
			b.wakeMember(msg.MeshID, r.MemberID)
		case s != nil:
			s.offer(it)
		case b.cluster.isRemote(msg.MeshID, key):
			b.cluster.hintWake(msg.MeshID, key) // its node reads the row from the store
		case !r.Pinned:
			// The session ended between routing and commit: its row goes
			// back to the member like the rest of its unacked mail.
			b.releaseLater(msg.MeshID, key)
		}
	}
	b.metrics.routed.WithLabelValues(msg.Priority, msg.Kind).Inc()
}

// wakeMember makes the member's live sessions, on every node, claim its
// member-bound rows.
func (b *Broker) wakeMember(meshID, memberID string) {
	for _, s := range b.hub.memberSessions(meshID, memberID) {
		if !s.ephemeral {
			s.requestSync()
		}
	}
	b.cluster.hintWake(meshID, memberSession{memberID, ""})
}

var errShuttingDown = protocol.Errorf(protocol.CodeUnavailable, "the broker is shutting down; resend to the restarted broker")

// releaseLater hands a dropped session's unacked rows back to its member
// once its resume window has passed (SESSION_RESUME_SECONDS): a session
// that resumes in time gets them pushed again itself, one that never comes
// back does not keep its member's mail.
func (b *Broker) releaseLater(meshID string, key memberSession) {
	time.AfterFunc(b.opts.ResumeWindow, func() {
		if b.ctx.Err() == nil {
			b.commits.releaseSession(meshID, key)
		}
	})
}
