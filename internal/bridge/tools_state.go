package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// meshAnd picks the one mesh a state or memory tool acts on and reads its
// one required string argument.
func (b *Bridge) meshAnd(a args, name string) (*link, string, error) {
	ref, err := a.str("mesh", false)
	if err != nil {
		return nil, "", err
	}
	l, err := b.pickLink(ref)
	if err != nil {
		return nil, "", err
	}
	if name == "" {
		return l, "", nil
	}
	v, err := a.str(name, true)
	return l, v, err
}

func (b *Bridge) toolSetState(ctx context.Context, a args) (string, error) {
	l, key, err := b.meshAnd(a, "key")
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
	l, key, err := b.meshAnd(a, "key")
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
	l, _, err := b.meshAnd(a, "")
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
	l, content, err := b.meshAnd(a, "content")
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
	l, query, err := b.meshAnd(a, "query")
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
	l, id, err := b.meshAnd(a, "id")
	if err != nil {
		return "", err
	}
	if err := l.c.RequestInto(ctx, map[string]any{"type": protocol.TypeForget, "memoryId": id}, protocol.TypeOK, &struct{}{}); err != nil {
		return "", err
	}
	return fmt.Sprintf("Forgot %s on mesh %s.", id, l.mesh.Slug), nil
}
