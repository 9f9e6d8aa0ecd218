package broker

import (
	"encoding/json"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// systemEvent is a peer or member event to announce (protocol.md §5).
type systemEvent struct {
	name string
	data protocol.SystemEventData
}

func eventForSession(name string, s *session) systemEvent {
	return systemEvent{name, protocol.SystemEventData{Name: s.displayName, Pubkey: s.routingAddr, Groups: nonNilGroups(s.snapshotGroups())}}
}

func eventMemberRevoked(m store.Member) systemEvent {
	return systemEvent{protocol.EventMemberRevoked, protocol.SystemEventData{Name: m.DisplayName, Pubkey: m.Pubkey, Groups: wireGroups(m.Groups)}}
}

// announce sends a system push to every protocol-2, non-ephemeral session of
// the mesh except skipPresence. System pushes are not stored: they describe
// the present, and a session that misses one learns the state from list_peers.
func (b *Broker) announce(meshID, skipPresence string, ev systemEvent) {
	data, _ := json.Marshal(ev.data)
	frame := protocol.Encode(protocol.Push{
		Type: protocol.TypePush, MessageID: ids.New("sys"), MeshID: meshID,
		SenderPubkey: "system", SenderMemberPubkey: "system", SenderName: "system",
		Priority: protocol.PriorityLow, Enc: protocol.EncPlain, Kind: protocol.KindBroadcast,
		CreatedAt: isoTime(b.now()), Subtype: "system", Event: ev.name, EventData: data,
	})
	for _, s := range b.hub.sessions(meshID) {
		if s.presenceID != skipPresence && s.protocol >= 2 && !s.ephemeral {
			s.send(frame)
		}
	}
}

func wireGroups(gs []store.Group) []protocol.Group {
	out := make([]protocol.Group, len(gs))
	for i, g := range gs {
		out[i] = protocol.Group{Name: g.Name, Role: g.Role}
	}
	return out
}

func storeGroups(gs []protocol.Group) []store.Group {
	out := make([]store.Group, len(gs))
	for i, g := range gs {
		out[i] = store.Group{Name: g.Name, Role: g.Role}
	}
	return out
}

func nonNilGroups(gs []protocol.Group) []protocol.Group {
	if gs == nil {
		return []protocol.Group{}
	}
	return gs
}
