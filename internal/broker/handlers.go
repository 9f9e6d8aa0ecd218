package broker

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

var errStoreDown = protocol.Errorf(protocol.CodeUnavailable, "the broker's store is unavailable; nothing was accepted, retry shortly")

// handleFrame dispatches one authenticated frame. Every request carrying a
// _reqId gets exactly one response echoing it.
func (b *Broker) handleFrame(ctx context.Context, s *session, data []byte) {
	f, perr := protocol.DecodeClientFrame(data)
	if perr != nil {
		var id, req string
		if f != nil {
			id, req = f.ID, f.ReqID
		}
		s.send(protocol.EncodeError(perr, id, req))
		return
	}
	if f.Type == protocol.TypeSend {
		b.handleSend(ctx, s, f)
		return
	}
	s.pendingSends.Wait() // responses keep their order behind earlier acks
	switch f.Type {
	case protocol.TypeClientAck:
		if f.MessageID != "" {
			s.acked(f.MessageID)
		}
		b.ok(s, f.ReqID, nil)
	case protocol.TypeFetchPending:
		n, err := s.sync(ctx, true)
		if err != nil {
			s.send(protocol.EncodeError(errStoreDown, "", f.ReqID))
			return
		}
		b.ok(s, f.ReqID, &n)
	case protocol.TypeListPeers:
		s.send(protocol.Encode(protocol.PeersList{Type: protocol.TypePeersList, Peers: b.listPeers(s.meshID), ReqID: f.ReqID}))
	case protocol.TypeListMembers:
		b.handleListMembers(ctx, s, f)
	case protocol.TypeMessageStat:
		b.handleMessageStatus(ctx, s, f)
	case protocol.TypeSetStatus:
		b.handleSetStatus(s, f)
	case protocol.TypeSetSummary:
		b.handleSetSummary(s, f)
	case protocol.TypeJoinGroup, protocol.TypeLeaveGroup:
		b.handleGroup(ctx, s, f)
	case protocol.TypeSetState:
		b.handleSetState(ctx, s, f)
	case protocol.TypeGetState:
		b.handleGetState(ctx, s, f)
	case protocol.TypeListState:
		b.handleListState(ctx, s, f)
	case protocol.TypeDeleteState:
		b.handleDeleteState(ctx, s, f)
	case protocol.TypeRemember:
		b.handleRemember(ctx, s, f)
	case protocol.TypeRecall:
		b.handleRecall(ctx, s, f)
	case protocol.TypeForget:
		b.handleForget(ctx, s, f)
	case protocol.TypePing:
		s.send(protocol.Encode(protocol.OK{Type: protocol.TypePong, ReqID: f.ReqID}))
	case protocol.TypeHello:
		s.send(protocol.EncodeError(protocol.Errorf(protocol.CodeAlreadyAuth, "this socket is already authenticated"), "", f.ReqID))
	default:
		s.send(protocol.EncodeError(protocol.Errorf(protocol.CodeUnknownType, "unknown frame type "+f.Type), f.ID, f.ReqID))
	}
}

// fail answers a request with an error frame.
func (b *Broker) fail(s *session, reqID string, perr *protocol.Error) {
	s.send(protocol.EncodeError(perr, "", reqID))
}

// ok answers a request without a typed response; fire-and-forget frames
// from old clients (no _reqId) get nothing.
func (b *Broker) ok(s *session, reqID string, count *int) {
	if reqID != "" {
		s.send(protocol.Encode(protocol.OK{Type: protocol.TypeOK, ReqID: reqID, Count: count}))
	}
}

func (b *Broker) listPeers(meshID string) []protocol.Peer {
	sessions := b.hub.sessions(meshID)
	peers := make([]protocol.Peer, 0, len(sessions))
	for _, s := range sessions {
		if s.ephemeral {
			continue
		}
		s.mu.Lock()
		status, source, summary, groups := s.status, s.source, s.summary, nonNilGroups(append([]protocol.Group(nil), s.groups...))
		s.mu.Unlock()
		h := s.hello
		caps := h.Capabilities
		if caps == nil {
			caps = []string{}
		}
		peers = append(peers, protocol.Peer{
			Pubkey: s.routingAddr, MemberPubkey: s.member.Pubkey, MemberID: s.member.ID,
			DisplayName: s.displayName, Status: status, StatusSource: source, Summary: summary, Groups: groups,
			SessionID: s.sessionID, ConnectedAt: isoTime(s.connectedAt), CWD: h.CWD,
			Hostname: h.Hostname, PeerType: h.PeerType, Channel: h.Channel, Model: h.Model, Capabilities: caps,
		})
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].ConnectedAt < peers[j].ConnectedAt })
	return b.peersWithRemote(meshID, peers)
}

func (b *Broker) handleListMembers(ctx context.Context, s *session, f *protocol.ClientFrame) {
	members, err := b.members.list(ctx, s.meshID)
	if err != nil {
		s.send(protocol.EncodeError(errStoreDown, "", f.ReqID))
		return
	}
	online := b.hub.online(s.meshID)
	for id := range b.cluster.remoteOnline(s.meshID) {
		online[id] = true
	}
	out := make([]protocol.MemberInfo, 0, len(members))
	for _, m := range members {
		out = append(out, protocol.MemberInfo{MemberID: m.ID, Pubkey: m.Pubkey, DisplayName: m.DisplayName,
			Role: m.Role, Groups: nonNilGroups(wireGroups(m.Groups)), Online: online[m.ID]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DisplayName < out[j].DisplayName })
	s.send(protocol.Encode(protocol.MembersList{Type: protocol.TypeMembersList, Members: out, ReqID: f.ReqID}))
}

func (b *Broker) handleMessageStatus(ctx context.Context, s *session, f *protocol.ClientFrame) {
	st, err := b.store.MessageStatus(ctx, s.meshID, f.MessageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.MessageID == "") {
		s.send(protocol.EncodeError(protocol.Errorf(protocol.CodeNotFound, "no message with that id in this mesh"), "", f.ReqID))
		return
	}
	if err != nil {
		s.send(protocol.EncodeError(errStoreDown, "", f.ReqID))
		return
	}
	res := protocol.MessageStatusResult{Type: protocol.TypeMessageResult, MessageID: st.MessageID,
		TargetSpec: []byte(st.TargetSpec), Delivered: true, ReqID: f.ReqID,
		Recipients: []protocol.RecipientStatus{}} // [] rather than null once rows are swept
	for _, r := range st.Recipients {
		status := r.Status
		if status == store.DeliveryPending && st.Priority != protocol.PriorityNow && b.isHeld(s.meshID, r) {
			status = "held"
		}
		if r.Status != store.DeliveryDelivered {
			res.Delivered = false
		}
		rs := protocol.RecipientStatus{Name: r.Name, Pubkey: r.Pubkey, Status: status}
		if r.DeliveredAt != nil {
			rs.DeliveredAt = isoTime(*r.DeliveredAt)
		}
		res.Recipients = append(res.Recipients, rs)
	}
	s.send(protocol.Encode(res))
}

// isHeld reports whether a pending row waits on its live session's status.
func (b *Broker) isHeld(meshID string, r store.RecipientStatus) bool {
	rs := b.hub.lookup(meshID, memberSession{r.MemberID, r.SessionID})
	if rs == nil {
		return b.cluster.remoteHeld(meshID, memberSession{r.MemberID, r.SessionID})
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.status != "idle"
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
