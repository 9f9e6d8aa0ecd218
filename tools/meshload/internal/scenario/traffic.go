package scenario

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/wire"
)

// Sending, and the wire.Handler side of a population: replies and pushes
// go to the verifier as they arrive.

// plaintext is what every message says: who sent it, then padding.
func (p *population) plaintext(from int, seq string) []byte {
	head := "meshload|" + strconv.Itoa(from) + "|" + seq + "|"
	if len(head) >= p.opts.Size {
		return []byte(head)
	}
	return []byte(head + strings.Repeat("x", p.opts.Size-len(head)))
}

type pairKey uint64

func (p *population) shared(a, b int) *[32]byte {
	if a > b {
		a, b = b, a
	}
	k := pairKey(uint64(a)<<32 | uint64(b))
	if v, ok := p.pairs.Load(k); ok {
		return v.(*[32]byte)
	}
	v, _ := p.pairs.LoadOrStore(k, wire.SharedKey(&p.box[a].Sec, &p.box[b].Pub))
	return v.(*[32]byte)
}

// sendDM seals a crypto_box DM from idx to peer and sends it. The caller
// holds a window slot; it is released when the reply comes or the write fails.
func (p *population) sendDM(idx, peer int, priority string) error {
	s := p.sessions[idx]
	id := s.NextID()
	nonce, ct, err := wire.SealBox(p.plaintext(idx, id), p.shared(idx, peer))
	if err != nil {
		return err
	}
	return p.send(idx, id, p.ids[peer].Pub, priority, protocol.EncBox, nonce, ct, verify.One(p.n, peer))
}

// sendBroadcast seals with the mesh key and sends to "*".
func (p *population) sendBroadcast(idx int, expect verify.Set) error {
	s := p.sessions[idx]
	id := s.NextID()
	nonce, ct, err := protocol.SealSecretbox(p.plaintext(idx, id), p.meshKey[idx])
	if err != nil {
		return err
	}
	return p.send(idx, id, "*", protocol.PriorityNow, protocol.EncSecretbox, nonce, ct, expect)
}

// send registers the send before writing it (its reply may beat the write
// call's return). The write gets its own context: coder/websocket closes a
// connection whose write context ends mid-frame, so the run's deadline
// must never reach a write.
func (p *population) send(idx int, id, target, priority, enc, nonce, ct string, expect verify.Set) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := p.senders[idx]
	st.mu.Lock()
	st.pending[id] = pendingSend{at: time.Now(), expect: expect}
	st.mu.Unlock()
	p.sent.Add(1)
	if err := p.sessions[idx].Send(ctx, id, target, priority, enc, nonce, ct); err != nil {
		st.mu.Lock()
		delete(st.pending, id)
		st.mu.Unlock()
		<-st.slots
		p.errs.add("write_failed")
		return err
	}
	return nil
}

// acquire takes a window slot of session idx.
func (p *population) acquire(ctx context.Context, idx int) bool {
	select {
	case p.senders[idx].slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Push implements wire.Handler.
func (p *population) Push(s *wire.Session, f *wire.Frame, at time.Time) {
	p.v.Delivered(f.MessageID, s.Idx, at)
	storeMax(&p.lastDelivery, at.UnixNano())
	if !p.opens(s.Idx, f) {
		p.decrypt.Add(1)
	}
	if p.onPush != nil {
		p.onPush(s.Idx, f, at)
	}
}

// opens decrypts a push with the key its enc names and checks that the
// plaintext names the session the push claims as sender.
func (p *population) opens(to int, f *wire.Frame) bool {
	from, ok := p.index[f.SenderPubkey]
	if !ok {
		return false
	}
	var pt []byte
	var err error
	switch f.Enc {
	case protocol.EncBox:
		pt, err = wire.OpenBox(f.Nonce, f.Ciphertext, p.shared(from, to))
	case protocol.EncSecretbox:
		pt, err = wire.OpenSecretbox(f.Nonce, f.Ciphertext, p.meshKey[to])
	default:
		return false
	}
	return err == nil && strings.HasPrefix(string(pt), "meshload|"+strconv.Itoa(from)+"|")
}

// Reply implements wire.Handler: an ack or an error answering a send.
func (p *population) Reply(s *wire.Session, f *wire.Frame, at time.Time) {
	st := p.senders[s.Idx]
	st.mu.Lock()
	ps, ok := st.pending[f.ID]
	delete(st.pending, f.ID)
	st.mu.Unlock()
	if !ok {
		p.errs.add("unmatched_reply")
		return
	}
	<-st.slots
	if f.Type != protocol.TypeAck {
		p.errs.add(string(f.Code))
		return
	}
	p.v.Acked(f.MessageID, ps.at, at, ps.expect)
	storeMax(&p.lastAck, at.UnixNano())
	if f.Recipients != ps.expect.Len() && !p.env.Relay {
		p.mismatch.Add(1)
	}
}

// Unsolicited implements wire.Handler.
func (p *population) Unsolicited(_ *wire.Session, f *wire.Frame) { p.errs.add(string(f.Code)) }

// inFlight counts sends still waiting for their reply.
func (p *population) inFlight() int {
	n := 0
	for _, st := range p.senders {
		st.mu.Lock()
		n += len(st.pending)
		st.mu.Unlock()
	}
	return n
}

// drain waits, within the drain budget, for every reply and then for
// every intended delivery of the acked messages.
func (p *population) drain(ctx context.Context) {
	deadline := time.Now().Add(p.opts.Drain)
	for p.inFlight() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	for p.v.Outstanding() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}
