package broker

import (
	"context"
	"errors"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// handleSend validates, routes and submits one message; the ack goes out
// only after the commit (protocol.md §4). Sends are pipelined: the reader
// moves on while the message waits for its batch. The committer is FIFO, so
// a sender's messages commit, reach recipients and are acked in send order.
func (b *Broker) handleSend(ctx context.Context, s *session, f *protocol.ClientFrame) {
	fail := func(perr *protocol.Error) { s.send(protocol.EncodeError(perr, f.ID, f.ReqID)) }
	failNow := func(perr *protocol.Error) {
		s.pendingSends.Wait() // an error never overtakes the acks of earlier sends
		fail(perr)
	}
	if b.draining.Load() {
		failNow(errShuttingDown)
		return
	}
	send, perr := f.ValidateSend()
	if perr != nil {
		failNow(perr)
		return
	}
	if !s.limiter.allow(b.now()) {
		b.metrics.rateLimited.WithLabelValues("send").Inc()
		failNow(protocol.Errorf(protocol.CodeRateLimited, "sending faster than SEND_RATE_PER_SEC; slow down and resend"))
		return
	}
	if !b.sends.allow(s.meshID+"|"+s.member.ID, b.now()) {
		b.metrics.rateLimited.WithLabelValues("member_send").Inc()
		failNow(protocol.Errorf(protocol.CodeRateLimited, "this member's sessions together send faster than MEMBER_SEND_RATE_PER_SEC; slow down and resend"))
		return
	}
	rt, perr := b.resolve(ctx, s, send.Targets)
	if perr != nil {
		failNow(perr)
		return
	}
	enc := send.Enc
	if enc == "" {
		enc = protocol.EncPlain
		if !send.TargetIsArray && protocol.IsHexKey(send.Targets[0]) {
			enc = protocol.EncBox
		}
	}
	now := b.now()
	msg := store.NewMessage{
		ID: ids.New("msg"), MeshID: s.meshID, SenderMemberID: s.member.ID, SenderSessionID: s.sessionID,
		SenderPubkey: s.routingAddr, SenderMemberPubkey: s.member.Pubkey, SenderName: s.displayName,
		ClientMessageID: send.ClientMessageID, TargetSpec: string(f.TargetSpec), Priority: send.Priority,
		Kind: rt.kind, Group: rt.group, Enc: enc, Nonce: send.Nonce, Ciphertext: send.Ciphertext,
		CreatedAt: now, ExpiresAt: now.Add(b.cfg.MessageTTL), Recipients: rt.recipients,
	}
	frame := protocol.Encode(pushFrame(&store.Delivery{
		MessageID: msg.ID, MeshID: msg.MeshID, SenderPubkey: msg.SenderPubkey,
		SenderMemberPubkey: msg.SenderMemberPubkey, SenderName: msg.SenderName, Priority: msg.Priority,
		Kind: msg.Kind, Group: msg.Group, Enc: msg.Enc, Nonce: msg.Nonce, Ciphertext: msg.Ciphertext, CreatedAt: now,
	}))
	// A slot bounds this session's sends whose reply is not yet written: the
	// writer frees it after writing the ack or error, so replies can never
	// pile up in the write queue faster than the socket takes them.
	select {
	case s.sendSlots <- struct{}{}:
	case <-s.done:
		return // closing: the send was never acked, the client resends it
	}
	s.pendingSends.Add(1)
	b.commits.submit(ctx, msg, frame, func(res store.CommitResult, err error) {
		defer s.pendingSends.Done()
		var perr *protocol.Error
		reply := func(data []byte) { s.enqueue(&outFrame{data: data, sendReply: true}) }
		switch {
		case errors.As(err, &perr):
			reply(protocol.EncodeError(perr, f.ID, f.ReqID))
		case err != nil:
			reply(protocol.EncodeError(errStoreDown, f.ID, f.ReqID))
		default:
			reply(protocol.Encode(protocol.Ack{Type: protocol.TypeAck, ID: f.ID, MessageID: res.MessageID,
				Queued: true, Recipients: res.Recipients, ReqID: f.ReqID}))
		}
	})
}
