package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// slugs lists the joined meshes for error messages.
func (b *Bridge) slugs() string {
	var s []string
	for _, l := range b.links {
		s = append(s, l.mesh.Slug)
	}
	return strings.Join(s, ", ")
}

// pickLink is the mesh a single-mesh tool acts on: the `mesh` argument
// (slug, id or name), or the only joined mesh.
func (b *Bridge) pickLink(ref string) (*link, error) {
	if ref == "" {
		if len(b.links) == 1 {
			return b.links[0], nil
		}
		return nil, fmt.Errorf("several meshes are joined (%s): pass mesh", b.slugs())
	}
	for _, l := range b.links {
		if ref == l.mesh.Slug || ref == l.mesh.MeshID || strings.EqualFold(ref, l.mesh.Name) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no joined mesh is called %q (joined: %s)", ref, b.slugs())
}

// linksFor is every joined mesh, or just the named one.
func (b *Bridge) linksFor(ref string) ([]*link, error) {
	if ref == "" {
		return b.links, nil
	}
	l, err := b.pickLink(ref)
	if err != nil {
		return nil, err
	}
	return []*link{l}, nil
}

// splitMeshPrefix reads "<slug>:rest"; without a known slug prefix the
// whole string is the rest.
func (b *Bridge) splitMeshPrefix(s string) (*link, string) {
	if prefix, rest, ok := strings.Cut(s, ":"); ok && rest != "" {
		for _, l := range b.links {
			if l.mesh.Slug == prefix {
				return l, rest
			}
		}
	}
	return nil, s
}

// resolve finds the mesh and target for a `to` without a mesh prefix. With
// one mesh that is easy; with several, a name or key must match in exactly
// one of them, and groups and broadcasts need the prefix.
func (b *Bridge) resolve(ctx context.Context, to string) (*link, client.Target, error) {
	if len(b.links) == 1 {
		t, err := b.links[0].c.ResolveTarget(ctx, to)
		return b.links[0], t, err
	}
	if to == "*" || strings.HasPrefix(to, "@") {
		return nil, client.Target{}, fmt.Errorf("several meshes are joined (%s): write the target as <mesh>:%s", b.slugs(), to)
	}
	var hits []*link
	var targets []client.Target
	var errs []error
	for _, l := range b.links {
		t, err := l.resolveKnown(ctx, to)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.mesh.Slug, err))
			continue
		}
		hits, targets = append(hits, l), append(targets, t)
	}
	switch len(hits) {
	case 1:
		return hits[0], targets[0], nil
	case 0:
		return nil, client.Target{}, errors.Join(errs...)
	}
	var names []string
	for _, l := range hits {
		names = append(names, l.mesh.Slug+":"+to)
	}
	return nil, client.Target{}, fmt.Errorf("%q is on several meshes; write one of %s", to, strings.Join(names, ", "))
}

// resolveKnown is ResolveTarget that also checks a raw key belongs here.
func (l *link) resolveKnown(ctx context.Context, to string) (client.Target, error) {
	if !protocol.IsHexKey(to) {
		return l.c.ResolveTarget(ctx, to)
	}
	peers, err := l.c.ListPeers(ctx)
	if err != nil {
		return client.Target{}, err
	}
	for _, p := range peers {
		if p.Pubkey == to || p.MemberPubkey == to {
			return l.c.ResolveTarget(ctx, to)
		}
	}
	members, err := l.c.ListMembers(ctx)
	if err != nil {
		return client.Target{}, err
	}
	for _, m := range members {
		if m.Pubkey == to {
			return l.c.ResolveTarget(ctx, to)
		}
	}
	return client.Target{}, fmt.Errorf("no member or session has key %.12s…", to)
}

// seal encrypts for t: box for a person, secretbox for a group or everyone.
// The bridge never falls back to plain text the broker could read.
func (l *link) seal(ctx context.Context, t client.Target, text []byte) (client.Envelope, error) {
	if t.Kind == protocol.KindDirect {
		return l.c.SealDirect(text, t.Pub)
	}
	old, err := l.c.LegacyRecipients(ctx, t)
	if err != nil {
		return client.Envelope{}, err
	}
	if len(old) > 0 {
		return client.Envelope{}, fmt.Errorf("%s cannot decrypt group messages (an older client), so nothing was sent; message them one by one instead", strings.Join(old, ", "))
	}
	if l.meshKey == nil {
		return client.Envelope{}, fmt.Errorf("mesh %s has no root key in the config, so group messages cannot be encrypted; rejoin the mesh to get it", l.mesh.Slug)
	}
	return client.SealGroup(text, l.meshKey)
}
