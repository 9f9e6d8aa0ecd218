package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

func (b *Bridge) toolListPeers(ctx context.Context, a args) (string, error) {
	group, err := a.str("group", false)
	if err != nil {
		return "", err
	}
	group = strings.TrimPrefix(group, "@")
	var sb strings.Builder
	var errs []error
	for _, l := range b.links {
		peers, err := l.c.ListPeers(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("mesh %s: %w", l.mesh.Slug, err))
			continue
		}
		fmt.Fprintf(&sb, "Mesh %s:\n", l.mesh.Slug)
		shown := 0
		for _, p := range peers {
			if group != "" && !slices.ContainsFunc(p.Groups, func(g protocol.Group) bool { return g.Name == group }) {
				continue
			}
			shown++
			you := ""
			if p.Pubkey == l.c.RoutingPubkey() {
				you = " (this session)"
			}
			// Every field but the key is written by that peer: one line each.
			fmt.Fprintf(&sb, "- %s%s: %s", cleanMetaValue(p.DisplayName), you, cleanMetaValue(p.Status))
			if len(p.Groups) > 0 {
				fmt.Fprintf(&sb, ", groups %s", cleanMetaValue(protocol.FormatGroupsSpec(p.Groups)))
			}
			if p.Summary != "" {
				fmt.Fprintf(&sb, ", summary %q", cleanMetaValue(p.Summary))
			}
			fmt.Fprintf(&sb, ", %s on %s in %s, id %s\n", cleanMetaValue(p.PeerType), cleanMetaValue(p.Hostname), cleanMetaValue(p.CWD), p.Pubkey)
		}
		if shown == 0 {
			sb.WriteString("- nobody" + map[bool]string{true: " in @" + group, false: ""}[group != ""] + "\n")
		}
	}
	if sb.Len() == 0 {
		return "", errors.Join(errs...)
	}
	for _, e := range errs {
		fmt.Fprintf(&sb, "note: %v\n", e)
	}
	return strings.TrimRight(sb.String(), "\n"), nil
}

// onEachMesh runs an RPC on every selected mesh and reports per mesh.
func (b *Bridge) onEachMesh(ctx context.Context, meshRef, done string, frame map[string]any) (string, error) {
	links, err := b.linksFor(meshRef)
	if err != nil {
		return "", err
	}
	var ok []string
	var errs []error
	for _, l := range links {
		if _, err := l.c.Request(ctx, frame); err != nil {
			errs = append(errs, fmt.Errorf("mesh %s: %w", l.mesh.Slug, err))
			continue
		}
		ok = append(ok, l.mesh.Slug)
	}
	if len(errs) > 0 {
		if len(ok) > 0 {
			errs = append(errs, fmt.Errorf("%s on mesh %s", done, strings.Join(ok, ", ")))
		}
		return "", errors.Join(errs...)
	}
	return fmt.Sprintf("%s on mesh %s.", done, strings.Join(ok, ", ")), nil
}

func (b *Bridge) toolSetSummary(ctx context.Context, a args) (string, error) {
	summary, err := a.str("summary", false)
	if err != nil {
		return "", err
	}
	mesh, err := a.str("mesh", false)
	if err != nil {
		return "", err
	}
	return b.onEachMesh(ctx, mesh, "Summary set", map[string]any{"type": protocol.TypeSetSummary, "summary": summary})
}

func (b *Bridge) toolSetStatus(ctx context.Context, a args) (string, error) {
	status, err := a.str("status", true)
	if err != nil {
		return "", err
	}
	if status != "idle" && status != "working" && status != "dnd" {
		return "", fmt.Errorf("status must be idle, working or dnd, got %q", status)
	}
	mesh, err := a.str("mesh", false)
	if err != nil {
		return "", err
	}
	return b.onEachMesh(ctx, mesh, "Status set to "+status, map[string]any{"type": protocol.TypeSetStatus, "status": status, "source": "manual"})
}

func (b *Bridge) toolJoinGroup(ctx context.Context, a args) (string, error) {
	name, err := groupArg(a)
	if err != nil {
		return "", err
	}
	role, err := a.str("role", false)
	if err != nil {
		return "", err
	}
	mesh, err := a.str("mesh", false)
	if err != nil {
		return "", err
	}
	f := map[string]any{"type": protocol.TypeJoinGroup, "name": name}
	if role != "" {
		f["role"] = role
	}
	return b.onEachMesh(ctx, mesh, "Joined @"+name, f)
}

func (b *Bridge) toolLeaveGroup(ctx context.Context, a args) (string, error) {
	name, err := groupArg(a)
	if err != nil {
		return "", err
	}
	mesh, err := a.str("mesh", false)
	if err != nil {
		return "", err
	}
	return b.onEachMesh(ctx, mesh, "Left @"+name, map[string]any{"type": protocol.TypeLeaveGroup, "name": name})
}

func groupArg(a args) (string, error) {
	name, err := a.str("name", true)
	if err != nil {
		return "", err
	}
	name = strings.TrimPrefix(name, "@")
	if !protocol.ValidGroupName(name) {
		return "", fmt.Errorf("group %q: names are 1 to 64 of a-z 0-9 _ - / and start with a letter or digit", name)
	}
	return name, nil
}
