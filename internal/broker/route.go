package broker

import (
	"context"
	"sort"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// route is the resolved recipient set of one send.
type route struct {
	recipients []store.Recipient
	kind       string
	group      string
}

// resolver expands targets against one snapshot of the mesh (protocol.md §3).
// Both snapshots are shared read-only views (routeView, memberSnapshot):
// routing a send copies neither the member list nor the session table.
type resolver struct {
	sender  *session
	local   *routeView // live, non-ephemeral sessions of this node
	remote  *routeView // sessions on other nodes (cluster), after local ones
	members *memberSnapshot
	seen    map[memberSession]bool
	out     []store.Recipient
	matched bool // the current target reached someone (maybe already added)
}

// resolve expands targets. A target naming nobody triggers one reload of
// the mesh's members from the store before no_such_peer is final, so a member
// added a moment ago by another process is reachable at once.
func (b *Broker) resolve(ctx context.Context, s *session, targets []string) (route, *protocol.Error) {
	members, err := b.members.snapshot(ctx, s.meshID)
	if err != nil {
		return route{}, errStoreDown
	}
	rt, perr := b.resolveAgainst(s, members, targets)
	if perr == nil || perr.Code != protocol.CodeNoSuchPeer {
		return rt, perr
	}
	if _, err := b.members.reload(ctx, s.meshID); err != nil {
		return route{}, errStoreDown
	}
	if members, err = b.members.snapshot(ctx, s.meshID); err != nil {
		return route{}, errStoreDown
	}
	return b.resolveAgainst(s, members, targets)
}

func (b *Broker) resolveAgainst(s *session, members *memberSnapshot, targets []string) (route, *protocol.Error) {
	rv := &resolver{sender: s, members: members, local: b.hub.routeView(s.meshID), seen: make(map[memberSession]bool, 2)}
	// Sessions on other nodes come after local ones: a session mid-move
	// routes here. Indexed per send; empty (and free) on a single node.
	rv.remote = indexSessions(b.cluster.remoteSessions(s.meshID))
	rt := route{kind: protocol.KindDirect}
	groups := map[string]bool{}
	for _, t := range targets {
		rv.matched = false
		kind, perr := rv.add(t)
		if perr != nil {
			return route{}, perr
		}
		if !rv.matched {
			return route{}, protocol.Errorf(protocol.CodeNoSuchPeer, "target "+quoteTarget(t)+" resolves to nobody but the sender")
		}
		switch {
		case kind == protocol.KindBroadcast:
			rt.kind = protocol.KindBroadcast
		case kind == protocol.KindGroup && rt.kind != protocol.KindBroadcast:
			rt.kind = protocol.KindGroup
			groups[strings.TrimPrefix(t, "@")] = true
		}
	}
	if rt.kind == protocol.KindGroup && len(groups) == 1 {
		for g := range groups {
			rt.group = g
		}
	}
	rt.recipients = rv.out
	return rt, nil
}

// views lists where live sessions are looked up, local first.
func (rv *resolver) views() [2]*routeView { return [2]*routeView{rv.local, rv.remote} }

// add expands one target and returns its kind.
func (rv *resolver) add(t string) (string, *protocol.Error) {
	switch {
	case strings.HasPrefix(t, "#") || strings.HasPrefix(t, "tag:"):
		return "", protocol.Errorf(protocol.CodeUnsupportedTarget, "channel (#) and tag: targets are not supported")
	case t == "*" || t == "@all":
		for _, m := range rv.members.list {
			rv.addMember(m)
		}
		return protocol.KindBroadcast, nil
	case strings.HasPrefix(t, "@"):
		return protocol.KindGroup, rv.addGroup(strings.TrimPrefix(t, "@"))
	case protocol.IsHexKey(t):
		return protocol.KindDirect, rv.addPubkey(t)
	default:
		return protocol.KindDirect, rv.addName(t)
	}
}

// addSession targets one live session. pinned marks a target addressed to
// the session's own key: only that session can decrypt it.
func (rv *resolver) addSession(x *session, pinned bool) {
	k := x.key()
	if x == rv.sender || k == rv.sender.key() {
		return
	}
	rv.matched = true
	if rv.seen[k] {
		if pinned {
			rv.pin(k)
		}
		return
	}
	rv.seen[k] = true
	rv.out = append(rv.out, store.Recipient{MemberID: x.member.ID, SessionID: x.sessionID, Pubkey: x.routingAddr, Name: x.displayName, Pinned: pinned})
}

// addMember targets every live session of the member, or queues one
// member-bound row when none is live. The sender's own member is never
// queued: only its other live sessions receive.
func (rv *resolver) addMember(m store.Member) {
	live := false
	for _, v := range rv.views() {
		for _, x := range v.byMember[m.ID] {
			live = true
			rv.addSession(x, false)
		}
	}
	k := memberSession{m.ID, ""}
	if live || m.ID == rv.sender.member.ID {
		return
	}
	rv.matched = true
	if rv.seen[k] {
		return
	}
	rv.seen[k] = true
	rv.out = append(rv.out, store.Recipient{MemberID: m.ID, Pubkey: m.Pubkey, Name: m.DisplayName})
}

// pin marks an already added recipient as pinned (an array named it both
// by member and by session key).
func (rv *resolver) pin(k memberSession) {
	for i := range rv.out {
		if rv.out[i].MemberID == k.memberID && rv.out[i].SessionID == k.sessionID {
			rv.out[i].Pinned = true
		}
	}
}

func (rv *resolver) addGroup(name string) *protocol.Error {
	if !protocol.ValidGroupName(name) {
		return protocol.Errorf(protocol.CodeNoSuchPeer, "no group "+quoteTarget(name)+": group names match [a-z0-9][a-z0-9_-/]{0,63}")
	}
	found := false
	for _, v := range rv.views() {
		for _, x := range v.sessions {
			if hasGroup(x.snapshotGroups(), name) {
				found = true
				rv.addSession(x, false)
			}
		}
	}
	for _, m := range rv.members.list {
		live := len(rv.local.byMember[m.ID]) > 0 || len(rv.remote.byMember[m.ID]) > 0
		if !live && hasGroup(wireGroups(m.Groups), name) {
			found = true
			rv.addMember(m)
		}
	}
	if !found {
		return protocol.Errorf(protocol.CodeNoSuchPeer, "nobody is in group @"+name)
	}
	return nil
}

func (rv *resolver) addPubkey(pk string) *protocol.Error {
	for _, v := range rv.views() {
		if x := v.byKey[pk]; x != nil {
			rv.addSession(x, true)
			return nil
		}
	}
	if i, ok := rv.members.byPubkey[pk]; ok {
		rv.addMember(rv.members.list[i])
		return nil
	}
	return protocol.Errorf(protocol.CodeNoSuchPeer, "no peer or member with pubkey "+pk[:16]+"... in this mesh")
}

// addName resolves a display name, case-insensitively and exactly, among
// members and live sessions. Several matching members is ambiguous.
func (rv *resolver) addName(name string) *protocol.Error {
	type candidate struct {
		member   store.Member
		byMember bool
		sessions []*session
	}
	cands := map[string]*candidate{}
	get := func(m store.Member) *candidate {
		if cands[m.ID] == nil {
			cands[m.ID] = &candidate{member: m}
		}
		return cands[m.ID]
	}
	for _, m := range rv.members.list {
		if strings.EqualFold(m.DisplayName, name) {
			get(m).byMember = true
		}
	}
	for _, v := range rv.views() {
		for _, x := range v.sessions {
			if strings.EqualFold(x.displayName, name) {
				c := get(x.member)
				c.sessions = append(c.sessions, x)
			}
		}
	}
	switch len(cands) {
	case 0:
		return protocol.Errorf(protocol.CodeNoSuchPeer, "no peer or member named "+quoteTarget(name)+" in this mesh")
	case 1:
		for _, c := range cands {
			if c.byMember {
				rv.addMember(c.member)
			}
			for _, x := range c.sessions {
				rv.addSession(x, false)
			}
		}
		return nil
	}
	var names []string
	for _, c := range cands {
		names = append(names, c.member.DisplayName+" ("+c.member.Pubkey[:16]+"...)")
	}
	sort.Strings(names)
	return protocol.Errorf(protocol.CodeAmbiguousTarget, "name "+quoteTarget(name)+" matches several members: "+strings.Join(names, ", ")+"; use a pubkey")
}

func hasGroup(gs []protocol.Group, name string) bool {
	for _, g := range gs {
		if g.Name == name {
			return true
		}
	}
	return false
}

func quoteTarget(t string) string {
	if len(t) > 64 {
		t = t[:64] + "..."
	}
	return `"` + t + `"`
}
