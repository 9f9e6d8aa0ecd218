package broker

import (
	"context"
	"slices"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// handleSetStatus applies a manual or inferred status. A signal the rules
// ignore (inferred inside a hook's fresh window, or against dnd) is still
// answered ok: the request was valid, and list_peers shows what is in effect.
func (b *Broker) handleSetStatus(s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateStatus(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	s.applyStatus(f.Status, orDefault(f.Source, sourceManual), b.now())
	b.ok(s, f.ReqID, nil)
}

func (b *Broker) handleSetSummary(s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateSummary(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	s.mu.Lock()
	s.summary = f.Summary
	s.mu.Unlock()
	b.ok(s, f.ReqID, nil)
}

// handleGroup joins or leaves a group. The member's remembered groups are
// written first, so a store failure changes nothing; then the session's
// groups, which @group routing reads for live sessions.
func (b *Broker) handleGroup(ctx context.Context, s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateGroup(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	join := f.Type == protocol.TypeJoinGroup
	g := protocol.Group{Name: f.Name, Role: f.Role}
	if cur := s.snapshotGroups(); join && len(cur) >= protocol.MaxGroupsPerHello && !hasGroup(cur, g.Name) {
		b.fail(s, f.ReqID, protocol.Errorf(protocol.CodeMalformed, "a session is in at most 64 groups"))
		return
	}
	err := b.updateRememberedGroups(ctx, s, func(gs []store.Group) []store.Group {
		if join {
			return storeGroups(withGroup(wireGroups(gs), g))
		}
		return storeGroups(withoutGroup(wireGroups(gs), g.Name))
	})
	if err != nil {
		b.fail(s, f.ReqID, errStoreDown)
		return
	}
	s.mu.Lock()
	if join {
		s.groups = withGroup(s.groups, g)
	} else {
		s.groups = withoutGroup(s.groups, g.Name)
	}
	s.mu.Unlock()
	b.ok(s, f.ReqID, nil)
}

// updateRememberedGroups is a read-modify-write of the member's remembered
// groups; groupsMu keeps two sessions of one member from losing an update.
func (b *Broker) updateRememberedGroups(ctx context.Context, s *session, edit func([]store.Group) []store.Group) error {
	b.groupsMu.Lock()
	defer b.groupsMu.Unlock()
	_, mem, err := b.members.member(ctx, s.meshID, s.member.ID)
	if err != nil {
		return err
	}
	gs := edit(mem.Groups)
	if err := b.store.SetMemberGroups(ctx, s.meshID, s.member.ID, gs); err != nil {
		return err
	}
	b.members.setGroups(s.meshID, s.member.ID, gs)
	return nil
}

// withGroup returns gs with g added, or with its role updated if present.
// It never modifies gs in place: callers may share the backing array.
func withGroup(gs []protocol.Group, g protocol.Group) []protocol.Group {
	out := slices.Clone(gs)
	for i := range out {
		if out[i].Name == g.Name {
			out[i].Role = g.Role
			return out
		}
	}
	return append(out, g)
}

func withoutGroup(gs []protocol.Group, name string) []protocol.Group {
	return slices.DeleteFunc(slices.Clone(gs), func(g protocol.Group) bool { return g.Name == name })
}
