package bridge

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Kinds of channel events besides the push kinds (direct, group, broadcast).
const (
	kindSystem      = "system"
	kindStateChange = "state_change"
	kindInbox       = "inbox" // inbox mode's count line
)

// maxValueShown bounds a state value quoted in a channel event.
const maxValueShown = 500

// messageEvent is a peer message as Claude sees it. text is the plaintext,
// or a notice when it could not be decrypted (openErr).
func (l *link) messageEvent(p *protocol.Push, text string, openErr error) channelEvent {
	meta := map[string]string{
		"from_id":    p.SenderPubkey,
		"from_name":  p.SenderName,
		"mesh_slug":  l.mesh.Slug,
		"mesh_id":    l.mesh.MeshID,
		"message_id": p.MessageID,
		"priority":   p.Priority,
		"kind":       p.Kind,
		"sent_at":    p.CreatedAt,
	}
	if p.Group != "" {
		meta["group"] = p.Group
	}
	if openErr != nil {
		text = fmt.Sprintf("[claudemesh: this message from %s could not be decrypted, so its text is not shown: %v]", p.SenderName, openErr)
	}
	return channelEvent{Content: text, Meta: meta}
}

// systemEvent describes a peer joining, leaving, returning or being revoked.
func (l *link) systemEvent(p *protocol.Push) channelEvent {
	var d protocol.SystemEventData
	_ = json.Unmarshal(p.EventData, &d)
	name := d.Name
	if name == "" {
		name = "a peer"
	}
	var what string
	switch p.Event {
	case "peer_joined":
		what = name + " joined the mesh"
	case "peer_left":
		what = name + " left the mesh"
	case "peer_returned":
		what = name + " is back on the mesh"
	case "member_revoked":
		what = name + " was removed from the mesh"
	default:
		what = fmt.Sprintf("mesh event %q about %s", p.Event, name)
	}
	if len(d.Groups) > 0 {
		what += " (groups: " + protocol.FormatGroupsSpec(d.Groups) + ")"
	}
	return channelEvent{Content: what, Meta: map[string]string{
		"from_id": "system", "from_name": "claudemesh", "mesh_slug": l.mesh.Slug, "mesh_id": l.mesh.MeshID,
		"message_id": p.MessageID, "priority": protocol.PriorityLow, "kind": kindSystem, "event": p.Event,
		"peer_name": d.Name, "peer_id": d.Pubkey, "sent_at": p.CreatedAt,
	}}
}

// stateEvent tells Claude that another session changed shared state.
func (l *link) stateEvent(s *protocol.StateChange) channelEvent {
	var what string
	if s.Deleted {
		what = fmt.Sprintf("%s deleted shared state key %q", s.UpdatedBy, s.Key)
	} else {
		v := string(s.Value)
		if len(v) > maxValueShown {
			v = v[:maxValueShown] + "… (truncated; call get_state)"
		}
		what = fmt.Sprintf("%s set shared state %q = %s", s.UpdatedBy, s.Key, v)
	}
	return channelEvent{Content: what, Meta: map[string]string{
		"from_id": "system", "from_name": s.UpdatedBy, "mesh_slug": l.mesh.Slug, "mesh_id": l.mesh.MeshID,
		"message_id": "", "priority": protocol.PriorityLow, "kind": kindStateChange, "key": s.Key,
		"version": strconv.FormatInt(s.Version, 10), "sent_at": s.UpdatedAt,
	}}
}

// countEvent is inbox mode's one line: how many messages wait, from whom.
func countEvent(l *link, p *protocol.Push, waiting int, senders []string) channelEvent {
	line := fmt.Sprintf("%d new message(s) from %s, call check_messages", waiting, strings.Join(senders, ", "))
	return channelEvent{Content: line, Meta: map[string]string{
		"from_id": p.SenderPubkey, "from_name": p.SenderName, "mesh_slug": l.mesh.Slug, "mesh_id": l.mesh.MeshID,
		"message_id": p.MessageID, "priority": p.Priority, "kind": kindInbox, "count": strconv.Itoa(waiting),
		"sent_at": p.CreatedAt,
	}}
}
