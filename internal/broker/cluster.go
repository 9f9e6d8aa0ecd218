package broker

// Clustering: several broker processes ("nodes") on one PostgreSQL serve the
// same meshes. The design, in short:
//
//   - The store is the source of truth. A send is committed by the sender's
//     node with one delivery row per recipient session, wherever that
//     session lives; the recipient's node reads the rows from the store.
//   - Each node registers in the nodes table, heartbeats it, and holds an
//     advisory lock on its LISTEN connection. A node whose lock is free (the
//     process died) or whose heartbeat is older than CLUSTER_NODE_TIMEOUT is
//     declared dead by one other node, which ends its presences and hands
//     its sessions' unacked rows back to their members after the resume
//     window, unless the session resumed somewhere.
//   - Wake-ups travel as PostgreSQL NOTIFY payloads (ids only, never
//     content), sent after the commit. A lost notification costs latency,
//     not mail: every CatchUpInterval a node asks the store which of its
//     sessions have rows newer than its watermark and syncs them.
//   - Each node keeps a cache of the live presences of the other nodes
//     (reloaded on a presence notification and every PresencePollInterval)
//     so routing, list_peers and online counts see the whole mesh.
//
// With SQLite there is one node (the server's lock file), so only the node
// registration and the takeover of the previous process's sessions run.
//
// Concurrency: cluster.mu guards remote and is a leaf lock (never held while
// calling the hub, a session or the store). written, marks and scheduled are
// owned by single loops (see their comments). The cluster never takes
// hub.mu or a session.mu while holding its own lock.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// catchUpLag is how far behind the newest seq the catch-up watermark stays.
// PostgreSQL draws seqs before commit, so a transaction may become visible
// after a later seq; it must commit within this lag (commits time out at
// 10 s) for the catch-up poll to see it.
const catchUpLag = 20 * time.Second

// hint is one NOTIFY payload: ids and small metadata, never message
// content or state values. Kinds:
//
//	w  rows for (Mesh, Member, Session) are pending (Session "": member-bound)
//	p  presences of Mesh changed: reload
//	x  close presence Presence on node Node (its session resumed elsewhere)
//	h  apply hook status Status (signal time At) to presence Presence on Node
//	s  state Key of Mesh changed to Version (Deleted; By and At for deletes);
//	   receivers read the value from the store
type hint struct {
	Kind     string `json:"k"`
	Origin   string `json:"o"`
	Mesh     string `json:"m,omitempty"`
	Member   string `json:"u,omitempty"`
	Session  string `json:"s,omitempty"`
	Node     string `json:"n,omitempty"`
	Presence string `json:"p,omitempty"`
	Status   string `json:"st,omitempty"`
	At       int64  `json:"at,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  int64  `json:"v,omitempty"`
	Deleted  bool   `json:"d,omitempty"`
	By       string `json:"by,omitempty"`
}

// remotePeer is a live session on another node: its presence row and a
// session shell (no socket) the resolver can route to.
type remotePeer struct {
	p     store.Presence
	shell *session
}

type cluster struct {
	b       *Broker
	enabled bool // the store has LISTEN/NOTIFY, so other nodes may exist

	hints    chan hint     // outgoing NOTIFY payloads; full means dropped (the catch-up delivers)
	reload   chan struct{} // asks for a reload of remote presences (capacity 1)
	catchUp  chan struct{} // asks for a catch-up poll now (capacity 1)
	listener store.Listener

	mu     sync.RWMutex
	remote map[string][]remotePeer // mesh id -> live sessions on other nodes
	loaded bool                    // remote holds a first load (no announcements for it)

	written   map[string]store.PresenceState // presence id -> state last written; owned by syncPresences
	marks     []seqMark                      // owned by the catch-up loop
	watermark int64                          // owned by the catch-up loop

	schedMu   sync.Mutex // leaf
	scheduled map[releaseKey]bool
}

type seqMark struct {
	at  time.Time
	seq int64
}

type releaseKey struct {
	meshID string
	key    memberSession
}

func newCluster(b *Broker) *cluster {
	return &cluster{
		b: b, hints: make(chan hint, 4096), reload: make(chan struct{}, 1), catchUp: make(chan struct{}, 1),
		remote: map[string][]remotePeer{}, written: map[string]store.PresenceState{}, scheduled: map[releaseKey]bool{},
	}
}

// start takes the node's liveness lock (when the store supports it),
// registers the node and takes over dead nodes, then hands every orphaned
// session's rows back after the resume window. It runs before any socket is
// served.
func (c *cluster) start() {
	b := c.b
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	l, err := b.store.Listen(ctx, b.opts.NodeID)
	switch {
	case err == nil:
		c.enabled, c.listener = true, l
	case !errors.Is(err, store.ErrUnsupported):
		// Without the lock other nodes would declare this one dead at once.
		b.log.Error("cluster: listening for other nodes failed; running without cross-node wake-ups until it reconnects", "err", err)
		c.enabled = b.store.Backend() == "postgres"
	}
	if err := b.store.RegisterNode(ctx, b.opts.NodeID, b.now()); err != nil {
		b.log.Error("cluster: registering the node failed", "node", b.opts.NodeID, "err", err)
	}
	c.claimDead(ctx)
	c.sweepOrphans(ctx)
	if !c.enabled {
		return
	}
	b.goLoop(c.listen)
	b.goLoop(c.notify)
	b.goLoop(c.heartbeat)
	b.goLoop(c.presenceLoop)
	b.goLoop(c.catchUpLoop)
	c.requestReload()
}

// claimDead declares stale or lock-less nodes dead and treats their sessions
// as dropped now: they may resume (on any node) within the window.
func (c *cluster) claimDead(ctx context.Context) {
	b := c.b
	now := b.now()
	dead, err := b.store.ClaimDeadNodes(ctx, b.opts.NodeID, now.Add(-b.opts.NodeDeadAfter), now)
	if err != nil {
		b.log.Warn("cluster: checking for dead nodes failed", "err", err)
		return
	}
	nodes := map[string]int{}
	meshes := map[string]bool{}
	for _, s := range dead {
		nodes[s.NodeID]++
		meshes[s.MeshID] = true
		b.hub.markDropped(s.MeshID, memberSession{s.MemberID, s.SessionID}, now.Add(b.opts.ResumeWindow))
	}
	for n, count := range nodes {
		b.log.Warn("cluster: took over a dead node's sessions", "dead_node", n, "sessions", count)
	}
	for m := range meshes {
		c.presenceChanged(m)
	}
	if len(dead) > 0 {
		c.requestReload()
	}
}

// sweepOrphans schedules the release of every session that holds pending
// rows but has no live presence anywhere, once per session: its rows go
// back to its member after the resume window unless it resumes. At start
// this covers the previous process's sessions; afterwards it catches
// sessions whose releasing node died too.
func (c *cluster) sweepOrphans(ctx context.Context) {
	b := c.b
	refs, err := b.store.OrphanedSessions(ctx)
	if err != nil {
		b.log.Warn("listing orphaned sessions failed; their mail waits for their resume", "err", err)
		return
	}
	until := b.now().Add(b.opts.ResumeWindow)
	n := 0
	for _, r := range refs {
		rk := releaseKey{r.MeshID, memberSession{r.MemberID, r.SessionID}}
		c.schedMu.Lock()
		dup := c.scheduled[rk]
		c.scheduled[rk] = true
		c.schedMu.Unlock()
		if dup {
			continue
		}
		n++
		b.hub.markDropped(r.MeshID, rk.key, until)
		time.AfterFunc(b.opts.ResumeWindow, func() {
			c.schedMu.Lock()
			delete(c.scheduled, rk)
			c.schedMu.Unlock()
			if b.ctx.Err() == nil {
				b.commits.releaseSession(rk.meshID, rk.key)
			}
		})
	}
	if n > 0 {
		b.log.Info("sessions without a live node hold undelivered messages; they go back to their members unless the sessions resume", "sessions", n, "window", b.opts.ResumeWindow)
	}
}

// heartbeat records this node as alive, takes over dead nodes and sweeps
// orphans every HeartbeatInterval. A node that finds itself declared dead
// (it hung, or lost its database connection) closes its sockets so its
// clients resume on a node the cluster trusts, and registers again.
func (c *cluster) heartbeat() {
	b := c.b
	t := time.NewTicker(b.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.HeartbeatInterval)
		alive, err := b.store.HeartbeatNode(ctx, b.opts.NodeID, b.now())
		switch {
		case err != nil:
			b.log.Warn("cluster: heartbeat failed", "err", err)
		case !alive:
			b.log.Error("cluster: this node was declared dead by another node; closing its sessions so they resume", "node", b.opts.NodeID)
			b.hub.closeAll(statusGoingAway, "broker node restarting")
			if err := b.store.RegisterNode(ctx, b.opts.NodeID, b.now()); err != nil {
				b.log.Warn("cluster: registering the node again failed", "err", err)
			}
		}
		c.claimDead(ctx)
		c.sweepOrphans(ctx)
		cancel()
	}
}

// listen receives hints on the dedicated connection. After a reconnect it
// reloads presences and polls for rows, since hints sent meanwhile are lost.
func (c *cluster) listen() {
	b := c.b
	l := c.listener
	backoff := 100 * time.Millisecond
	for b.ctx.Err() == nil {
		if l == nil {
			ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
			var err error
			l, err = b.store.Listen(ctx, b.opts.NodeID)
			cancel()
			if err != nil {
				b.log.Warn("cluster: reconnecting the listener failed", "err", err)
				select {
				case <-b.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			c.requestReload()
			c.requestCatchUp()
		}
		for {
			payload, err := l.Wait(b.ctx)
			if err != nil {
				if b.ctx.Err() == nil {
					b.log.Warn("cluster: listener connection lost; reconnecting", "err", err)
				}
				break
			}
			c.handle(payload)
		}
		l.Close()
		l = nil
	}
	if l != nil {
		l.Close()
	}
}

func (c *cluster) handle(payload string) {
	var h hint
	if err := json.Unmarshal([]byte(payload), &h); err != nil || h.Origin == c.b.opts.NodeID {
		return // ours (already applied locally) or not a hint of this version
	}
	switch h.Kind {
	case "w":
		c.wakeLocal(h.Mesh, memberSession{h.Member, h.Session})
	case "p":
		c.requestReload()
	case "x":
		if s := c.localPresence(h); s != nil {
			s.close(statusSuperseded, "superseded")
		}
	case "h":
		if s := c.localPresence(h); s != nil {
			s.applyStatus(h.Status, sourceHook, time.UnixMilli(h.At))
		}
	case "s":
		c.relayState(h)
	}
}

// localPresence finds the live local session a hint addresses by presence.
func (c *cluster) localPresence(h hint) *session {
	if h.Node != c.b.opts.NodeID {
		return nil
	}
	for _, s := range c.b.hub.all() {
		if s.presenceID == h.Presence {
			return s
		}
	}
	return nil
}

// forwardHook hands a verified hook that matched no local session to the
// node holding the member's session with its session_id (else the newest
// with its cwd). It returns how it matched, or "" for no remote match.
func (c *cluster) forwardHook(h pendingHook) string {
	if !c.enabled {
		return ""
	}
	c.mu.RLock()
	var target, byCWD *store.Presence
	for i := range c.remote[h.meshID] {
		p := &c.remote[h.meshID][i].p
		switch {
		case p.MemberID != h.memberID:
		case h.sessionID != "" && p.SessionID == h.sessionID:
			target = p
		case h.cwd != "" && p.CWD == h.cwd && (byCWD == nil || p.ConnectedAt.After(byCWD.ConnectedAt)):
			byCWD = p
		}
	}
	how := "session"
	if target == nil {
		target, how = byCWD, "cwd"
	}
	var node, presence string
	if target != nil {
		node, presence = target.NodeID, target.ID
	}
	c.mu.RUnlock()
	if target == nil {
		return ""
	}
	c.send(hint{Kind: "h", Node: node, Presence: presence, Status: h.status, At: h.at.UnixMilli()})
	return how
}

// forwardState tells other nodes about a state change made here.
func (c *cluster) forwardState(meshID string, ch protocol.StateChange) {
	h := hint{Kind: "s", Mesh: meshID, Key: ch.Key, Version: ch.Version, Deleted: ch.Deleted}
	if ch.Deleted {
		h.By = ch.UpdatedBy
		if t, err := time.Parse("2006-01-02T15:04:05.000Z", ch.UpdatedAt); err == nil {
			h.At = t.UnixMilli()
		}
	}
	c.send(h)
}

// relayState pushes another node's state change to this node's sessions.
// A set is read back from the store and relayed only if the key is still
// at the hinted version: a newer change has its own hint.
func (c *cluster) relayState(h hint) {
	b := c.b
	ch := protocol.StateChange{Type: protocol.TypeStateChange, Key: h.Key, Version: h.Version, Deleted: h.Deleted}
	if h.Deleted {
		ch.Value, ch.UpdatedBy, ch.UpdatedAt = jsonNull, h.By, isoTime(time.UnixMilli(h.At))
	} else {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		e, err := b.store.GetState(ctx, h.Mesh, h.Key)
		cancel()
		if err != nil || e.Version != h.Version {
			return
		}
		ch.Value, ch.UpdatedBy, ch.UpdatedAt = json.RawMessage(e.Value), e.UpdatedBy, isoTime(e.UpdatedAt)
	}
	frame := protocol.Encode(ch)
	for _, x := range b.hub.sessions(h.Mesh) {
		if !x.ephemeral {
			x.send(frame)
		}
	}
}

// wakeLocal makes this node's live sessions read rows for key: the session
// itself, or every session of the member for member-bound rows.
func (c *cluster) wakeLocal(meshID string, key memberSession) {
	if key.sessionID != "" {
		if s := c.b.hub.lookup(meshID, key); s != nil {
			s.requestSync()
		}
		return
	}
	for _, s := range c.b.hub.memberSessions(meshID, key.memberID) {
		s.requestSync() // ephemeral sessions ignore it
	}
}

// send queues a hint without blocking. A full queue drops it: the catch-up
// poll delivers the rows anyway.
func (c *cluster) send(h hint) {
	if !c.enabled {
		return
	}
	h.Origin = c.b.opts.NodeID
	select {
	case c.hints <- h:
	default:
	}
}

// hintWake tells other nodes that rows for key were committed.
func (c *cluster) hintWake(meshID string, key memberSession) {
	c.send(hint{Kind: "w", Mesh: meshID, Member: key.memberID, Session: key.sessionID})
}

// presenceChanged tells other nodes to reload the mesh's presences.
func (c *cluster) presenceChanged(meshID string) { c.send(hint{Kind: "p", Mesh: meshID}) }

// notify sends queued hints in batches, duplicates removed.
func (c *cluster) notify() {
	b := c.b
	buf := make([]hint, 0, 256)
	for {
		select {
		case <-b.ctx.Done():
			return
		case h := <-c.hints:
			buf = drain(c.hints, append(buf[:0], h), 1024)
		}
		seen := make(map[hint]bool, len(buf))
		payloads := make([]string, 0, len(buf))
		for _, h := range buf {
			if seen[h] {
				continue
			}
			seen[h] = true
			data, _ := json.Marshal(h)
			payloads = append(payloads, string(data))
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		if err := b.store.Notify(ctx, payloads); err != nil && b.ctx.Err() == nil {
			b.log.Warn("cluster: sending wake-ups failed; the catch-up poll delivers instead", "count", len(payloads), "err", err)
		}
		cancel()
	}
}

// catchUpLoop syncs the local sessions that have rows newer than the
// watermark, every CatchUpInterval or when asked.
func (c *cluster) catchUpLoop() {
	b := c.b
	t := time.NewTicker(b.opts.CatchUpInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-c.catchUp:
		}
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		refs, maxSeq, err := b.store.PendingWakeups(ctx, b.opts.NodeID, b.now(), c.watermark)
		cancel()
		if err != nil {
			if b.ctx.Err() == nil {
				b.log.Warn("cluster: catch-up poll failed", "err", err)
			}
			continue
		}
		for _, r := range refs {
			if s := b.hub.lookup(r.MeshID, memberSession{r.MemberID, r.SessionID}); s != nil {
				s.requestSync()
			}
		}
		c.advanceWatermark(time.Now(), maxSeq)
	}
}

// advanceWatermark moves the watermark to the newest seq seen at least
// catchUpLag ago, so rows committed late with an older seq are still found.
func (c *cluster) advanceWatermark(now time.Time, maxSeq int64) {
	c.marks = append(c.marks, seqMark{now, maxSeq})
	i := 0
	for i < len(c.marks) && now.Sub(c.marks[i].at) >= catchUpLag {
		c.watermark = max(c.watermark, c.marks[i].seq)
		i++
	}
	c.marks = c.marks[i:]
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

func (c *cluster) requestCatchUp() {
	select {
	case c.catchUp <- struct{}{}:
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
	c.mu.Lock()
	prev, first := c.remote, !c.loaded
	c.remote, c.loaded = next, true
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
	for _, r := range c.remote[meshID] {
		if r.shell.key() == key {
			return true
		}
	}
	return false
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

// resumedElsewhere reports whether the session was live, or dropped within
// the resume window, on another node (so this hello is a resume), and
// asks the node still holding a live socket for it to close that socket.
func (c *cluster) resumedElsewhere(ctx context.Context, s *session) (resumed, takeover bool) {
	if !c.enabled {
		return false, false
	}
	b := c.b
	ps, err := b.store.SessionPresences(ctx, s.meshID, s.member.ID, s.sessionID, b.now().Add(-b.opts.ResumeWindow))
	if err != nil {
		b.log.Warn("cluster: checking for a resumed session failed", "err", err)
		return false, false
	}
	for _, p := range ps {
		if p.ID == s.presenceID {
			continue
		}
		resumed = true
		if p.EndedAt == nil && p.NodeID != b.opts.NodeID {
			takeover = true
			c.send(hint{Kind: "x", Node: p.NodeID, Presence: p.ID})
		}
	}
	return resumed, takeover
}

// liveElsewhere reports whether the session has a live presence on another
// node, so its rows must stay bound to it.
func (c *cluster) liveElsewhere(meshID string, key memberSession) bool {
	if !c.enabled {
		return false
	}
	b := c.b
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	ps, err := b.store.SessionPresences(ctx, meshID, key.memberID, key.sessionID, b.now())
	if err != nil {
		return true // keep the rows; a later sweep tries again
	}
	for _, p := range ps {
		if p.EndedAt == nil && p.NodeID != b.opts.NodeID {
			return true
		}
	}
	return false
}

// rememberHello refuses a hello signature seen before, on this node (memory)
// or, in a cluster, on any node (the store's hello_replays table).
func (b *Broker) rememberHello(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	if !b.replays.remember(key, now, expires) {
		return false, nil
	}
	if !b.cluster.enabled {
		return true, nil
	}
	sum := sha256.Sum256([]byte(key))
	return b.store.RememberHello(ctx, hex.EncodeToString(sum[:]), now, expires)
}

// sessionResumable: the session is live or resumable on this node, or live
// on another one. Its rows must not be released then.
func (b *Broker) sessionResumable(meshID string, key memberSession) bool {
	return b.hub.resumable(meshID, key) || b.cluster.liveElsewhere(meshID, key)
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
