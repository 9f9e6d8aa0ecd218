package broker

// The cache of sessions on other nodes (routing, list_peers, online counts,
// peer events) and the writing of local presence state for them. See
// cluster.go for the design.

import (
	"context"
	"sort"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// remotePeer is a live session on another node: its presence row and a
// session shell (no socket) the resolver can route to.
type remotePeer struct {
	p     store.Presence
	shell *session
}

// presenceLoop reloads the other nodes' presences when told and every
// PresencePollInterval, and writes the status of local sessions that
// changed so other nodes list them correctly.
func (c *cluster) presenceLoop() {
	b := c.b
	t := time.NewTicker(b.opts.PresencePollInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			c.syncPresences()
		case <-c.reload:
		}
		c.reloadRemote()
	}
}

func (c *cluster) requestReload() {
	select {
	case c.reload <- struct{}{}:
	default:
	}
}

// reloadRemote replaces the cache of live sessions on other nodes.
func (c *cluster) reloadRemote() {
	b := c.b
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	ps, err := b.store.LivePresences(ctx, b.opts.NodeID)
	if err != nil {
		if b.ctx.Err() == nil {
			b.log.Warn("cluster: loading other nodes' presences failed", "err", err)
		}
		return
	}
	next := map[string][]remotePeer{}
	for _, p := range ps {
		if p.Ephemeral {
			continue
		}
		_, mem, err := b.members.member(ctx, p.MeshID, p.MemberID)
		if err != nil {
			continue // revoked, or the store is down: not routable now
		}
		routing := mem.Pubkey
		if p.SessionPubkey != "" {
			routing = p.SessionPubkey
		}
		shell := &session{b: b, presenceID: p.ID, meshID: p.MeshID, member: mem, sessionID: p.SessionID,
			sessionPubkey: p.SessionPubkey, routingAddr: routing, displayName: p.DisplayName,
			connectedAt: p.ConnectedAt, groups: wireGroups(p.Groups), status: p.Status, source: p.StatusSource,
			summary: p.Summary, done: make(chan struct{})}
		next[p.MeshID] = append(next[p.MeshID], remotePeer{p: p, shell: shell})
	}
	keys := make(map[string]map[memberSession]bool, len(next))
	for m, rs := range next {
		keys[m] = make(map[memberSession]bool, len(rs))
		for _, r := range rs {
			keys[m][r.shell.key()] = true
		}
	}
	c.mu.Lock()
	prev, first := c.remote, !c.loaded
	c.remote, c.remoteKey, c.loaded = next, keys, true
	c.mu.Unlock()
	if !first {
		c.announceChanges(prev, next)
	}
}

// announceChanges tells this node's sessions who joined or left on other
// nodes since the last reload. A session that moved here is live locally
// and announced by the hello itself.
func (c *cluster) announceChanges(prev, next map[string][]remotePeer) {
	b := c.b
	keys := func(rs []remotePeer) map[memberSession]*session {
		out := make(map[memberSession]*session, len(rs))
		for _, r := range rs {
			out[r.shell.key()] = r.shell
		}
		return out
	}
	meshes := map[string]bool{}
	for m := range prev {
		meshes[m] = true
	}
	for m := range next {
		meshes[m] = true
	}
	for m := range meshes {
		before, after := keys(prev[m]), keys(next[m])
		for k, s := range after {
			if before[k] == nil && b.hub.lookup(m, k) == nil {
				b.announce(m, "", eventForSession(protocol.EventPeerJoined, s))
			}
		}
		for k, s := range before {
			if after[k] == nil && b.hub.lookup(m, k) == nil {
				b.announce(m, "", eventForSession(protocol.EventPeerLeft, s))
			}
		}
	}
}

// syncPresences writes the state of local sessions whose status, summary or
// groups changed since the last write, and tells the other nodes.
func (c *cluster) syncPresences() {
	b := c.b
	live := map[string]bool{}
	changed := map[string]bool{}
	for _, s := range b.hub.all() {
		if s.ephemeral {
			continue
		}
		live[s.presenceID] = true
		s.mu.Lock()
		st := store.PresenceState{Status: s.status, StatusSource: s.source, Summary: s.summary, Groups: storeGroups(s.groups)}
		s.mu.Unlock()
		if old, ok := c.written[s.presenceID]; ok && samePresenceState(old, st) {
			continue // the first round always writes: the state may have moved since the insert
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		err := b.store.UpdatePresenceState(ctx, s.presenceID, st)
		cancel()
		if err != nil {
			continue // tried again next round
		}
		c.written[s.presenceID] = st
		changed[s.meshID] = true
	}
	for id := range c.written {
		if !live[id] {
			delete(c.written, id)
		}
	}
	for m := range changed {
		c.presenceChanged(m)
	}
}

func samePresenceState(a, b store.PresenceState) bool {
	if a.Status != b.Status || a.StatusSource != b.StatusSource || a.Summary != b.Summary || len(a.Groups) != len(b.Groups) {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i] != b.Groups[i] {
			return false
		}
	}
	return true
}

// remoteSessions returns the shells of the mesh's sessions on other nodes.
func (c *cluster) remoteSessions(meshID string) []*session {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*session, 0, len(c.remote[meshID]))
	for _, r := range c.remote[meshID] {
		out = append(out, r.shell)
	}
	return out
}

// isRemote reports whether key is live on another node, as last loaded.
func (c *cluster) isRemote(meshID string, key memberSession) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.remoteKey[meshID][key]
}

// remotePeers lists the mesh's sessions on other nodes for list_peers,
// skipping keys that are live on this node (a session that moved here).
func (c *cluster) remotePeers(meshID string, local map[memberSession]bool) []protocol.Peer {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []protocol.Peer
	for _, r := range c.remote[meshID] {
		s, p := r.shell, r.p
		if local[s.key()] {
			continue
		}
		local[s.key()] = true // a session listed by two nodes (mid-move) once
		caps := p.Capabilities
		if caps == nil {
			caps = []string{}
		}
		out = append(out, protocol.Peer{
			Pubkey: s.routingAddr, MemberPubkey: s.member.Pubkey, MemberID: s.member.ID,
			DisplayName: s.displayName, Status: p.Status, StatusSource: p.StatusSource, Summary: p.Summary,
			Groups: nonNilGroups(wireGroups(p.Groups)), SessionID: s.sessionID, ConnectedAt: isoTime(s.connectedAt),
			CWD: p.CWD, Hostname: p.Hostname, PeerType: p.PeerType, Channel: p.Channel, Model: p.Model, Capabilities: caps,
		})
	}
	return out
}

// remoteOnline counts the mesh's live sessions on other nodes per member.
func (c *cluster) remoteOnline(meshID string) map[string]int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]int{}
	for _, r := range c.remote[meshID] {
		out[r.p.MemberID]++
	}
	return out
}

// peersWithRemote merges remote peers into a local list, oldest first.
func (b *Broker) peersWithRemote(meshID string, peers []protocol.Peer) []protocol.Peer {
	if !b.cluster.enabled {
		return peers
	}
	local := map[memberSession]bool{}
	for _, p := range peers {
		local[memberSession{p.MemberID, p.SessionID}] = true
	}
	peers = append(peers, b.cluster.remotePeers(meshID, local)...)
	sort.SliceStable(peers, func(i, j int) bool { return peers[i].ConnectedAt < peers[j].ConnectedAt })
	return peers
}

// remoteHeld reports whether key is live on another node with a status that
// holds non-urgent messages, as that node last wrote it.
func (c *cluster) remoteHeld(meshID string, key memberSession) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, r := range c.remote[meshID] {
		if r.shell.key() == key {
			return r.p.Status != "idle"
		}
	}
	return false
}
