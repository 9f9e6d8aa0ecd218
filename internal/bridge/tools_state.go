package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// meshArg picks the one mesh a state or memory tool acts on.
func (b *Bridge) meshArg(a args) (*link, error) {
	ref, err := a.str("mesh", false)
	if err != nil {
		return nil, err
	}
	return b.pickLink(ref)
}

func (b *Bridge) toolSetState(ctx context.Context, a args) (string, error) {
	l, err := b.meshArg(a)
	if err != nil {
		return "", err
	}
	key, err := a.str("key", true)
	if err != nil {
		return "", err
	}
	value, err := a.raw("value")
	if err != nil {
		return "", err
	}
	var ok protocol.OK
	f := map[string]any{"type": protocol.TypeSetState, "key": key, "value": value}
	if err := l.c.RequestInto(ctx, f, protocol.TypeOK, &ok); err != nil {
		return "", err
	}
	version := ""
	if ok.Version != nil {
		version = fmt.Sprintf(" (version %d)", *ok.Version)
	}
	return fmt.Sprintf("Set %q on mesh %s%s.", key, l.mesh.Slug, version), nil
}

func (b *Bridge) toolGetState(ctx context.Context, a args) (string, error) {
	l, err := b.meshArg(a)
	if err != nil {
		return "", err
	}
	key, err := a.str("key", true)
	if err != nil {
		return "", err
	}
	var r protocol.StateResult
	if err := l.c.RequestInto(ctx, map[string]any{"type": protocol.TypeGetState, "key": key}, protocol.TypeStateResult, &r); err != nil {
		return "", err
	}
	if r.Version == 0 {
		return fmt.Sprintf("%q is not set on mesh %s.", key, l.mesh.Slug), nil
	}
	return fmt.Sprintf("%s = %s\n(version %d, set by %s at %s)", key, r.Value, r.Version, r.UpdatedBy, r.UpdatedAt), nil
}

func (b *Bridge) toolListState(ctx context.Context, a args) (string, error) {
	l, err := b.meshArg(a)
	if err != nil {
		return "", err
	}
	var r protocol.StateList
	if err := l.c.RequestInto(ctx, map[string]any{"type": protocol.TypeListState}, protocol.TypeStateList, &r); err != nil {
		return "", err
	}
	if len(r.Entries) == 0 {
		return fmt.Sprintf("No shared state on mesh %s.", l.mesh.Slug), nil
	}
	var sb strings.Builder
	for _, e := range r.Entries {
		fmt.Fprintf(&sb, "%s = %s (v%d, %s)\n", e.Key, e.Value, e.Version, e.UpdatedBy)
	}
	return strings.TrimRight(sb.String(), "\n"), nil
}

func (b *Bridge) toolRemember(ctx context.Context, a args) (string, error) {
	l, err := b.meshArg(a)
	if err != nil {
		return "", err
	}
	content, err := a.str("content", true)
	if err != nil {
		return "", err
	}
	tags, err := a.strs("tags", false)
	if err != nil {
		return "", err
	}
	f := map[string]any{"type": protocol.TypeRemember, "content": content}
	if len(tags) > 0 {
		f["tags"] = tags
	}
	var r protocol.MemoryStored
	if err := l.c.RequestInto(ctx, f, protocol.TypeMemoryStored, &r); err != nil {
		return "", err
	}
	return fmt.Sprintf("Remembered on mesh %s as %s.", l.mesh.Slug, r.ID), nil
}

func (b *Bridge) toolRecall(ctx context.Context, a args) (string, error) {
	l, err := b.meshArg(a)
	if err != nil {
		return "", err
	}
	query, err := a.str("query", true)
	if err != nil {
		return "", err
	}
	var r protocol.MemoryResults
	if err := l.c.RequestInto(ctx, map[string]any{"type": protocol.TypeRecall, "query": query}, protocol.TypeMemoryResults, &r); err != nil {
		return "", err
	}
	if len(r.Memories) == 0 {
		return fmt.Sprintf("Nothing on mesh %s matches %q.", l.mesh.Slug, query), nil
	}
	var sb strings.Builder
	for _, m := range r.Memories {
		fmt.Fprintf(&sb, "- [%s] %s", m.ID, m.Content)
		if len(m.Tags) > 0 {
			fmt.Fprintf(&sb, " (tags: %s)", strings.Join(m.Tags, ", "))
		}
		fmt.Fprintf(&sb, " (by %s, %s)\n", m.RememberedBy, m.RememberedAt)
	}
	return strings.TrimRight(sb.String(), "\n"), nil
}

func (b *Bridge) toolForget(ctx context.Context, a args) (string, error) {
	l, err := b.meshArg(a)
	if err != nil {
		return "", err
	}
	id, err := a.str("id", true)
	if err != nil {
		return "", err
	}
	if err := l.c.RequestInto(ctx, map[string]any{"type": protocol.TypeForget, "memoryId": id}, protocol.TypeOK, &struct{}{}); err != nil {
		return "", err
	}
	return fmt.Sprintf("Forgot %s on mesh %s.", id, l.mesh.Slug), nil
}
