package client

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// onPush runs on the reader goroutine: dedup, then hand the push to an
// outstanding fetch_pending or to the dispatcher. It never blocks.
func (c *Client) onPush(cn *conn, raw []byte) {
	var p protocol.Push
	if json.Unmarshal(raw, &p) != nil {
		return
	}
	if p.Subtype == "system" {
		c.disp.enqueue(Event{Push: &p}) // events carry no delivery row: never acked
		return
	}
	switch c.dedup.state(p.MessageID) {
	case seenAccepted:
		c.log.Debug("duplicate push re-acked", "messageId", p.MessageID)
		c.sendAck(cn, p.MessageID) // redelivered because our ack was lost: ack again, deliver once
		return
	case seenInFlight:
		c.log.Debug("duplicate push already queued", "messageId", p.MessageID)
		return // already queued for the handler, which acks it
	case seenKept:
		return // the handler kept it for later: its owner acks it (ErrKeep)
	}
	cn.mu.Lock()
	if cn.fetch != nil {
		*cn.fetch = append(*cn.fetch, p)
		cn.mu.Unlock()
		return
	}
	cn.mu.Unlock()
	if c.cfg.Handler == nil {
		return // unacked: the broker keeps it for a session that reads it
	}
	c.dedup.markInFlight(p.MessageID)
	c.disp.enqueue(Event{Push: &p})
}

// handOver queues pushes a failed fetch collected for the handler, as if
// they had arrived on their own (without a handler they stay unacked).
func (c *Client) handOver(pushes []protocol.Push) {
	if c.cfg.Handler == nil {
		return
	}
	for i := range pushes {
		p := pushes[i]
		if c.dedup.state(p.MessageID) != unseen {
			continue
		}
		c.dedup.markInFlight(p.MessageID)
		c.disp.enqueue(Event{Push: &p})
	}
}

// sendAck acks one delivery on cn, or on the live connection when cn is nil.
// A lost ack is harmless: the broker pushes again and dedup re-acks.
func (c *Client) sendAck(cn *conn, messageID string) {
	if c.dropAcks.Load() {
		return
	}
	if cn == nil {
		c.mu.Lock()
		cn = c.cur
		c.mu.Unlock()
		if cn == nil {
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.life, c.cfg.RPCTimeout)
	defer cancel()
	if err := cn.write(ctx, map[string]any{"type": protocol.TypeClientAck, "messageId": messageID}); err != nil {
		c.log.Debug("client_ack not sent", "messageId", messageID, "err", err)
	}
}

// dispatcher calls the handler in order from one goroutine. Its queue is
// unbounded so the reader never waits on user code; the broker bounds how
// many unacked pushes a session has in flight.
type dispatcher struct {
	c     *Client
	mu    sync.Mutex
	queue []Event
	wake  chan struct{} // buffered 1
}

func newDispatcher(c *Client) *dispatcher { return &dispatcher{c: c, wake: make(chan struct{}, 1)} }

func (d *dispatcher) enqueue(ev Event) {
	if d.c.cfg.Handler == nil {
		return
	}
	d.mu.Lock()
	d.queue = append(d.queue, ev)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(ctx context.Context) {
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			select {
			case <-d.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		ev := d.queue[0]
		d.queue[0] = Event{}
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.deliver(ctx, ev)
	}
}

func (d *dispatcher) deliver(ctx context.Context, ev Event) {
	err := d.c.cfg.Handler(ctx, ev)
	p := ev.Push
	if p == nil || p.Subtype == "system" {
		return
	}
	if errors.Is(err, ErrKeep) {
		d.c.dedup.keep(p.MessageID)
		return
	}
	if err != nil {
		d.c.dedup.forget(p.MessageID) // let the redelivery reach the handler again
		d.c.log.Warn("handler refused message; it stays unacked", "messageId", p.MessageID, "err", err)
		return
	}
	d.c.dedup.accept(p.MessageID)
	d.c.sendAck(nil, p.MessageID)
}

type seenState int

const (
	unseen seenState = iota
	seenInFlight
	seenAccepted
	seenKept // handed over with ErrKeep, not yet acked
)

// ErrKeep, returned by a Handler for a message push, says the caller keeps
// the message to show later and will Ack it itself. Until then it stays
// unacked on the broker, so it survives a crash of this process, and a
// redelivery (after a resume) is neither handed over again nor acked.
var ErrKeep = errors.New("client: message kept for a later Ack")

// dedup remembers the last n accepted messageIds (a ring, so memory is
// bounded), the ids currently queued for the handler, and the ids the
// handler kept (bounded by what its owner holds unacked).
type dedup struct {
	mu       sync.Mutex
	accepted map[string]struct{}
	ring     []string
	next     int
	inFlight map[string]struct{}
	kept     map[string]struct{}
}

func newDedup(n int) *dedup {
	return &dedup{accepted: map[string]struct{}{}, ring: make([]string, n),
		inFlight: map[string]struct{}{}, kept: map[string]struct{}{}}
}

func (d *dedup) state(id string) seenState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.accepted[id]; ok {
		return seenAccepted
	}
	if _, ok := d.inFlight[id]; ok {
		return seenInFlight
	}
	if _, ok := d.kept[id]; ok {
		return seenKept
	}
	return unseen
}

func (d *dedup) markInFlight(id string) {
	d.mu.Lock()
	d.inFlight[id] = struct{}{}
	d.mu.Unlock()
}

func (d *dedup) forget(id string) {
	d.mu.Lock()
	delete(d.inFlight, id)
	d.mu.Unlock()
}

func (d *dedup) keep(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inFlight, id)
	if _, ok := d.accepted[id]; !ok { // its owner may have acked it already
		d.kept[id] = struct{}{}
	}
}

func (d *dedup) accept(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inFlight, id)
	delete(d.kept, id)
	if _, ok := d.accepted[id]; ok {
		return
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.accepted, old)
	}
	d.ring[d.next] = id
	d.next = (d.next + 1) % len(d.ring)
	d.accepted[id] = struct{}{}
}
