package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Target is a resolved `to`: what goes on the wire and how to encrypt it.
type Target struct {
	Spec   string // targetSpec sent to the broker
	Kind   string // protocol.KindDirect, KindGroup or KindBroadcast
	Group  string // for KindGroup
	Name   string // display name, for a person resolved by name
	Pub    string // box recipient, for KindDirect
	Online bool   // a person resolved by name has a live session
}

// Describe names the target for people.
func (t Target) Describe() string {
	switch t.Kind {
	case protocol.KindBroadcast:
		return "everyone"
	case protocol.KindGroup:
		return "@" + t.Group
	}
	short := t.Pub
	if len(short) > 12 {
		short = short[:12]
	}
	if t.Name != "" {
		return fmt.Sprintf("%s (%s)", t.Name, short)
	}
	return short
}

// ResolveTarget turns a user's `to` (a display name, a 64-hex pubkey,
// @group, * or @all) into a wire target. A display name is resolved here,
// not by the broker, because box needs the recipient's key. A member's name
// becomes the member pubkey, so every live session of that member can open
// it (each also holds the member key) and an offline member gets mail. A
// name only a live session carries (`launch --name`) reaches that session
// alone, sealed to its session key (protocol.md §3).
func (c *Client) ResolveTarget(ctx context.Context, to string) (Target, error) {
	switch {
	case to == "*" || to == "@all":
		return Target{Spec: to, Kind: protocol.KindBroadcast}, nil
	case strings.HasPrefix(to, "@"):
		return Target{Spec: to, Kind: protocol.KindGroup, Group: to[1:]}, nil
	case protocol.IsHexKey(to):
		return Target{Spec: to, Kind: protocol.KindDirect, Pub: to}, nil
	}
	members, err := c.ListMembers(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("listing members to find %q: %w", to, err)
	}
	peers, err := c.ListPeers(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("listing peers to find %q: %w", to, err)
	}
	byPub := map[string]protocol.MemberInfo{}
	for _, m := range members {
		byPub[m.Pubkey] = m
	}
	var hits []Target // each member or session once
	for _, m := range members {
		if strings.EqualFold(m.DisplayName, to) {
			online := slices.ContainsFunc(peers, func(p protocol.Peer) bool { return p.MemberPubkey == m.Pubkey })
			hits = append(hits, Target{Spec: m.Pubkey, Kind: protocol.KindDirect, Pub: m.Pubkey, Name: m.DisplayName, Online: online})
		}
	}
	for _, p := range peers {
		member, known := byPub[p.MemberPubkey]
		if !strings.EqualFold(p.DisplayName, to) || (known && strings.EqualFold(member.DisplayName, to)) {
			continue // not this name, or the member's own name: the member target covers it
		}
		if !slices.ContainsFunc(hits, func(t Target) bool { return t.Pub == p.Pubkey }) {
			hits = append(hits, Target{Spec: p.Pubkey, Kind: protocol.KindDirect, Pub: p.Pubkey, Name: p.DisplayName, Online: true})
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		var names []string
		for _, m := range members {
			names = append(names, m.DisplayName)
		}
		return Target{}, fmt.Errorf("no member or live session is called %q (members: %s)", to, strings.Join(names, ", "))
	}
	var cands []string
	for _, t := range hits {
		cands = append(cands, fmt.Sprintf("%s %s", t.Name, t.Pub))
	}
	return Target{}, fmt.Errorf("%q names several members or sessions; send to one pubkey instead: %s", to, strings.Join(cands, "; "))
}

// LegacyRecipients names the live sessions a group or broadcast target
// reaches that did not declare secretbox (older clients), which could read
// the message only as plain text. The list comes through the broker.
func (c *Client) LegacyRecipients(ctx context.Context, t Target) ([]string, error) {
	if t.Kind == protocol.KindDirect {
		return nil, nil
	}
	peers, err := c.ListPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing peers to check their encryption support: %w", err)
	}
	var old []string
	for _, p := range peers {
		if t.Kind == protocol.KindGroup && !slices.ContainsFunc(p.Groups, func(g protocol.Group) bool { return g.Name == t.Group }) {
			continue
		}
		if !slices.Contains(p.Capabilities, protocol.CapSecretbox) {
			old = append(old, p.DisplayName)
		}
	}
	return old, nil
}
