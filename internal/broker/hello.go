package broker

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

const (
	helloSkew = 60 * time.Second
	// maxPipelinedSends is how many of one session's sends may wait for
	// their commit at once; past it the reader stops reading.
	maxPipelinedSends = 256
)

// pipelineDepth keeps a session's unacked sends to a quarter of its write
// queue, so a burst of their acks can never overflow it.
func pipelineDepth(writeQueue int) int { return max(1, min(maxPipelinedSends, writeQueue/4)) }

// authenticate runs the hello checks of protocol.md §2 in order, registers
// the session and writes hello_ack. On failure the error frame is written,
// the socket closed with 1008 and the code as reason.
func (b *Broker) authenticate(ctx context.Context, ws *websocket.Conn, remote string) (*session, error) {
	refuse := func(perr *protocol.Error, f *protocol.ClientFrame) error {
		var meshID, pubkey, reqID string
		if f != nil {
			meshID, pubkey, reqID = f.MeshID, f.Pubkey, f.ReqID
		}
		if perr.Code != protocol.CodeUnavailable { // the store's fault, not the client's
			b.auth.Failed("hello", remote, b.now())
		}
		b.audit(meshID, "auth_failed", pubkey, map[string]any{"reason": string(perr.Code), "remote_address": remote})
		return b.refuse(ws, perr, reqID)
	}
	hctx, cancel := context.WithTimeout(ctx, b.opts.HelloTimeout)
	data, err := b.readFrame(hctx, ws)
	cancel()
	if err == nil && b.auth.Blocked("hello", remote, b.now()) {
		// Over the address's failure budget: refused undecoded, unverified
		// and unaudited, so a flood costs neither CPU nor audit rows.
		return nil, b.refuse(ws, protocol.Errorf(protocol.CodeRateLimited, "too many failed authentications from this address; wait a minute"), "")
	}
	if errors.Is(err, errTooLarge) {
		return nil, refuse(protocol.Errorf(protocol.CodeTooLarge, "hello exceeds MAX_MESSAGE_BYTES"), nil)
	}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return nil, refuse(perr, nil)
	}
	if err != nil {
		return nil, err
	}
	f, perr := protocol.DecodeClientFrame(data)
	if perr != nil {
		return nil, refuse(perr, nil)
	}
	if f.Type != protocol.TypeHello {
		return nil, refuse(protocol.Errorf(protocol.CodeNoHello, "the first frame must be a hello"), f)
	}
	s, perr := b.checkHello(ctx, f)
	if perr != nil {
		return nil, refuse(perr, f)
	}
	s.ws = ws
	return s, b.admit(ctx, s, f)
}

// checkHello runs checks 1-5 and the session-key proof; it touches no shared
// state except the replay cache, which records only hellos that pass.
func (b *Broker) checkHello(ctx context.Context, f *protocol.ClientFrame) (*session, *protocol.Error) {
	if perr := f.ValidateHello(); perr != nil {
		return nil, perr
	}
	now := b.now()
	skew := now.Sub(time.UnixMilli(f.Timestamp))
	if skew > helloSkew || skew < -helloSkew {
		return nil, protocol.Errorf(protocol.CodeTimestampSkew, "hello timestamp is more than 60 s away from the broker clock; check the system time")
	}
	if !protocol.VerifyHex(f.Pubkey, protocol.HelloCanonical(f.MeshID, f.MemberID, f.Pubkey, f.Timestamp), f.Signature) {
		return nil, protocol.Errorf(protocol.CodeBadSignature, "hello signature does not verify against pubkey")
	}
	mesh, member, err := b.members.member(ctx, f.MeshID, f.MemberID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, protocol.Errorf(protocol.CodeUnauthorized, "no such member in this mesh, or the member was revoked")
	case err != nil:
		return nil, protocol.Errorf(protocol.CodeUnavailable, "the broker's store is unavailable; retry shortly")
	case mesh.ArchivedAt != nil:
		return nil, protocol.Errorf(protocol.CodeUnauthorized, "this mesh is archived")
	case member.Pubkey != f.Pubkey:
		return nil, protocol.Errorf(protocol.CodeUnauthorized, "pubkey does not belong to this member")
	}
	routing := f.Pubkey
	if f.SessionPubkey != "" {
		canon := protocol.SessionCanonical(f.MeshID, f.MemberID, f.Pubkey, f.SessionPubkey, f.Timestamp)
		if !protocol.VerifyHex(f.SessionPubkey, canon, f.SessionSignature) {
			return nil, protocol.Errorf(protocol.CodeBadSessionSignature, "sessionSignature does not prove sessionPubkey")
		}
		routing = f.SessionPubkey
	}
	fresh, err := b.rememberHello(ctx, f.Pubkey+"|"+f.Signature, now, time.UnixMilli(f.Timestamp).Add(helloSkew))
	switch {
	case err != nil:
		return nil, protocol.Errorf(protocol.CodeUnavailable, "the broker's store is unavailable; retry shortly")
	case !fresh:
		return nil, protocol.Errorf(protocol.CodeReplayed, "this exact signed hello was already used; sign a fresh one")
	}
	name := f.DisplayName
	if name == "" {
		name = member.DisplayName
	}
	status := "idle"
	return &session{
		b: b, presenceID: ids.New("pre"), meshID: f.MeshID, member: member,
		sessionID: f.SessionID, sessionPubkey: f.SessionPubkey, routingAddr: routing,
		displayName: name, hello: f, clientAck: f.HasCapability(protocol.CapClientAck),
		protocol: f.Protocol, ephemeral: f.Ephemeral, connectedAt: now,
		limiter: newTokenBucket(b.cfg.SendRatePerSec, now), sendSlots: make(chan struct{}, pipelineDepth(b.opts.WriteQueueSize)),
		out: newWriteQueue(b.opts.WriteQueueSize), done: make(chan struct{}), kick: make(chan struct{}, 1), drained: make(chan struct{}, 1),
		syncing: !f.Ephemeral, syncDue: !f.Ephemeral, // live offers wait for the first sync
		status: status, source: sourceManual, statusAt: now, inflight: map[string]struct{}{},
	}, nil
}

// admit applies the connection cap (check 6), records the presence, takes
// over a resumed session and writes hello_ack before any other frame.
func (b *Broker) admit(ctx context.Context, s *session, f *protocol.ClientFrame) error {
	groups, err := b.sessionGroups(ctx, s, f)
	if err != nil {
		return b.refuse(s.ws, protocol.Errorf(protocol.CodeUnavailable, "the broker's store is unavailable; retry shortly"), f.ReqID)
	}
	s.groups = groups
	adm, ok := b.hub.register(s, b.cfg.MaxConnsPerMesh)
	if !ok {
		return b.refuse(s.ws, protocol.Errorf(protocol.CodeCapacity, "this mesh has reached MAX_CONNECTIONS_PER_MESH"), f.ReqID)
	}
	b.metrics.connections.Inc()
	b.applyPendingHook(s)
	if adm.superseded != nil {
		adm.superseded.close(statusSuperseded, "superseded")
	}
	if !adm.resumed { // the session may come from another node
		var takeover bool
		adm.resumed, takeover = b.cluster.resumedElsewhere(ctx, s)
		adm.returned = adm.resumed && !takeover
	}
	if err := b.store.InsertPresence(ctx, b.presenceRow(s)); err != nil {
		b.log.Warn("recording presence failed", "err", err)
	}
	b.cluster.presenceChanged(s.meshID)
	ack := protocol.HelloAck{
		Type: protocol.TypeHelloAck, PresenceID: s.presenceID, MeshID: s.meshID, MemberID: s.member.ID,
		MemberDisplayName: s.member.DisplayName, Role: s.member.Role, Protocol: 2,
		PeersOnline: b.peersOnline(s.meshID), Resumed: adm.resumed,
	}
	wctx, cancel := context.WithTimeout(ctx, b.opts.WriteTimeout)
	err = s.ws.Write(wctx, websocket.MessageText, protocol.Encode(ack))
	cancel()
	if err != nil {
		// Nothing was announced yet, but the session may have taken over a
		// live one: end it like any other so its rows go back to the member.
		b.metrics.connections.Dec()
		if b.hub.unregister(s) {
			b.finishSession(s)
		}
		return err
	}
	b.metrics.hellos.WithLabelValues("ok").Inc()
	b.audit(s.meshID, "session_connected", s.member.Pubkey, map[string]any{"presence_id": s.presenceID, "session_id": s.sessionID, "resumed": adm.resumed})
	// A revocation committed before this point must win even if the cache
	// has not seen it yet; one committed after it reaches the poller, which
	// finds this session registered. So the re-check reads the store.
	if m, err := b.store.GetMember(ctx, s.meshID, s.member.ID); err == nil && m.RevokedAt != nil {
		s.close(statusRevoked, "revoked")
	}
	switch {
	case s.ephemeral:
	case adm.returned:
		b.announce(s.meshID, s.presenceID, eventForSession(protocol.EventPeerReturned, s))
	case !adm.resumed:
		b.announce(s.meshID, s.presenceID, eventForSession(protocol.EventPeerJoined, s))
	}
	return nil
}

// sessionGroups takes the hello's groups and remembers them for the member,
// or restores the remembered ones when the hello carries none.
func (b *Broker) sessionGroups(ctx context.Context, s *session, f *protocol.ClientFrame) ([]protocol.Group, error) {
	if len(f.Groups) == 0 {
		return wireGroups(s.member.Groups), nil
	}
	gs := storeGroups(f.Groups)
	b.groupsMu.Lock() // the same read-modify-write lock as join_group/leave_group
	defer b.groupsMu.Unlock()
	if err := b.store.SetMemberGroups(ctx, s.meshID, s.member.ID, gs); err != nil {
		return nil, err
	}
	b.members.setGroups(s.meshID, s.member.ID, gs)
	return append([]protocol.Group(nil), f.Groups...), nil
}

func (b *Broker) peersOnline(meshID string) int {
	n := 0
	for _, s := range b.hub.sessions(meshID) {
		if !s.ephemeral {
			n++
		}
	}
	for _, c := range b.cluster.remoteOnline(meshID) {
		n += c
	}
	return n
}

func (b *Broker) presenceRow(s *session) store.Presence {
	f := s.hello
	s.mu.Lock() // registered already: a hook or the status sweeper may write these
	st := store.PresenceState{Status: s.status, StatusSource: s.source, Summary: s.summary, Groups: storeGroups(s.groups)}
	s.mu.Unlock()
	return store.Presence{
		ID: s.presenceID, MeshID: s.meshID, MemberID: s.member.ID, SessionID: s.sessionID,
		SessionPubkey: s.sessionPubkey, NodeID: b.opts.NodeID, DisplayName: s.displayName,
		PID: f.PID, CWD: f.CWD, Hostname: f.Hostname, PeerType: f.PeerType, Channel: f.Channel,
		Model: f.Model, Ephemeral: s.ephemeral, ConnectedAt: s.connectedAt, Capabilities: f.Capabilities,
		PresenceState: st,
	}
}

// refuse writes the error frame and closes with 1008 and the code as reason.
func (b *Broker) refuse(ws *websocket.Conn, perr *protocol.Error, reqID string) error {
	b.metrics.hellos.WithLabelValues(string(perr.Code)).Inc()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	_ = ws.Write(ctx, websocket.MessageText, protocol.EncodeError(perr, "", reqID))
	cancel()
	ws.Close(websocket.StatusPolicyViolation, string(perr.Code))
	return perr
}
