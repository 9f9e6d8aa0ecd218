package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// roundTrip sends f (a copy gets the correlation key) and waits for the
// reply within RPCTimeout. An error frame becomes a *BrokerError.
func (c *Client) roundTrip(ctx context.Context, f map[string]any, idField string) (frame, error) {
	typ, _ := f["type"].(string)
	tctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
	defer cancel()
	r, err := c.exchange(tctx, f, idField, nil)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return frame{}, &timeoutError{typ: typ, d: c.cfg.RPCTimeout, offline: errors.Is(err, errOffline)}
		}
		return frame{}, fmt.Errorf("%s: %w", typ, err)
	}
	if r.Type == protocol.TypeError {
		return frame{}, &BrokerError{Op: typ, Code: r.Code, Message: r.Message}
	}
	return r, nil
}

// exchange runs one call on the live connection; collect, when set,
// receives the pushes that arrive before the reply (fetch_pending).
func (c *Client) exchange(ctx context.Context, f map[string]any, idField string, collect *[]protocol.Push) (frame, error) {
	cn, err := c.current(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return frame{}, fmt.Errorf("%w: %w", errOffline, err)
		}
		return frame{}, err
	}
	key := c.nextID("r")
	f = maps.Clone(f)
	f[idField] = key
	if collect != nil {
		cn.mu.Lock()
		cn.fetch = collect
		cn.mu.Unlock()
		defer func() { cn.mu.Lock(); cn.fetch = nil; cn.mu.Unlock() }()
	}
	return cn.call(ctx, key, f)
}

// Request sends any frame with a fresh _reqId and returns the decoded reply.
// It is the escape hatch for frames without a typed method (set_state...).
func (c *Client) Request(ctx context.Context, f map[string]any) (map[string]any, error) {
	r, err := c.roundTrip(ctx, f, "_reqId")
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(r.raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RequestInto is Request decoding the reply, which must be of type want, into
// out: typed replies keep raw JSON fields (state values) byte for byte.
func (c *Client) RequestInto(ctx context.Context, f map[string]any, want string, out any) error {
	r, err := c.roundTrip(ctx, f, "_reqId")
	if err != nil {
		return err
	}
	if r.Type != want {
		return fmt.Errorf("%s: broker answered %q, expected %q", f["type"], r.Type, want)
	}
	return json.Unmarshal(r.raw, out)
}

// Outgoing is one message to send. To holds targetSpecs (pubkey, @group,
// *, display name); one target is sent as a string, several as an array.
type Outgoing struct {
	To       []string
	Priority string // now|next|low; "next" when empty
	Envelope
	ClientMessageID string // idempotency key: reuse it when retrying
}

// Send sends one message and returns the broker's ack, which arrives only
// after the message is durably committed.
func (c *Client) Send(ctx context.Context, m Outgoing) (protocol.Ack, error) {
	if len(m.To) == 0 {
		return protocol.Ack{}, errors.New("send: no target")
	}
	var target any = m.To
	if len(m.To) == 1 {
		target = m.To[0]
	}
	if m.Priority == "" {
		m.Priority = protocol.PriorityNext
	}
	f := map[string]any{"type": protocol.TypeSend, "targetSpec": target, "priority": m.Priority,
		"nonce": m.Nonce, "ciphertext": m.Ciphertext}
	if m.Enc != "" {
		f["enc"] = m.Enc
	}
	if m.ClientMessageID != "" {
		f["clientMessageId"] = m.ClientMessageID
	}
	r, err := c.roundTrip(ctx, f, "id")
	if err != nil {
		return protocol.Ack{}, err
	}
	var ack protocol.Ack
	if r.Type != protocol.TypeAck {
		return ack, fmt.Errorf("send: broker answered %q, expected ack", r.Type)
	}
	return ack, json.Unmarshal(r.raw, &ack)
}

// ListPeers returns the live sessions of the mesh, this one included.
func (c *Client) ListPeers(ctx context.Context) ([]protocol.Peer, error) {
	var r protocol.PeersList
	err := c.RequestInto(ctx, map[string]any{"type": protocol.TypeListPeers}, protocol.TypePeersList, &r)
	return r.Peers, err
}

// ListMembers returns every non-revoked member, online or not.
func (c *Client) ListMembers(ctx context.Context) ([]protocol.MemberInfo, error) {
	var r protocol.MembersList
	err := c.RequestInto(ctx, map[string]any{"type": protocol.TypeListMembers}, protocol.TypeMembersList, &r)
	return r.Members, err
}

// MessageStatus reports per-recipient delivery of a message this mesh sent.
func (c *Client) MessageStatus(ctx context.Context, messageID string) (protocol.MessageStatusResult, error) {
	var r protocol.MessageStatusResult
	err := c.RequestInto(ctx, map[string]any{"type": protocol.TypeMessageStat, "messageId": messageID}, protocol.TypeMessageResult, &r)
	return r, err
}

// SetStatus sets idle|working|dnd; source is "manual" or "inferred" ("" = manual).
func (c *Client) SetStatus(ctx context.Context, status, source string) error {
	f := map[string]any{"type": protocol.TypeSetStatus, "status": status}
	if source != "" {
		f["source"] = source
	}
	_, err := c.roundTrip(ctx, f, "_reqId")
	return err
}

// FetchPending pulls every message queued for this session, held ones
// included, and returns them with the broker's count. They are NOT acked:
// call Ack once they are safely shown or stored, or they come back.
func (c *Client) FetchPending(ctx context.Context) ([]protocol.Push, int, error) {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	var got []protocol.Push
	tctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout)
	defer cancel()
	r, err := c.exchange(tctx, map[string]any{"type": protocol.TypeFetchPending}, "_reqId", &got)
	if err != nil || r.Type == protocol.TypeError {
		// The broker counts what it pushed as in flight and would not push it
		// again before a reconnect: let the handler have it instead.
		c.handOver(got)
	}
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return nil, 0, &timeoutError{typ: protocol.TypeFetchPending, d: c.cfg.RPCTimeout, offline: errors.Is(err, errOffline)}
	case err != nil:
		return nil, 0, fmt.Errorf("fetch_pending: %w", err)
	case r.Type == protocol.TypeError:
		return nil, 0, &BrokerError{Op: protocol.TypeFetchPending, Code: r.Code, Message: r.Message}
	}
	var ok protocol.OK
	if err := json.Unmarshal(r.raw, &ok); err != nil || ok.Count == nil {
		return nil, 0, fmt.Errorf("fetch_pending: reply %q has no count", r.Type)
	}
	return got, *ok.Count, nil
}

// Hold marks pushes the caller took with FetchPending as its own until it
// Acks them: a redelivery meanwhile is neither handed to the Handler nor
// acked (as with ErrKeep).
func (c *Client) Hold(messageIDs ...string) {
	for _, id := range messageIDs {
		c.dedup.keep(id)
	}
}

// Ack confirms delivery of pushes the caller took itself (FetchPending) or
// kept from its Handler (ErrKeep). The ids count as accepted at once; with
// no live connection Ack returns errOffline without waiting, because a
// redelivery after the next resume is then re-acked by the dedup, never
// handed over again.
func (c *Client) Ack(ctx context.Context, messageIDs ...string) error {
	for _, id := range messageIDs {
		c.dedup.accept(id)
	}
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn == nil {
		return fmt.Errorf("client_ack: %w (confirmed after the next resume)", errOffline)
	}
	for _, id := range messageIDs {
		if err := cn.write(ctx, map[string]any{"type": protocol.TypeClientAck, "messageId": id}); err != nil {
			return fmt.Errorf("client_ack: %w", err)
		}
	}
	return nil
}
