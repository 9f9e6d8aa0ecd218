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
//     so routing, list_peers, online counts and peer events see the whole
//     mesh (cluster_remote.go). Hooks and state changes for sessions on
//     other nodes travel as hints too (cluster_hints.go).
//   - A row bound to a session is released to its member only when the
//     session is neither live nor resumable here and has no live presence
//     on another node (sessionResumable), so a session that moved keeps its
//     mail.
//
// With SQLite there is one node (the server's lock file), so only the node
// registration and the takeover of the previous process's sessions run.
//
// Concurrency: cluster.mu guards remote, remoteKey and loaded; schedMu
// guards scheduled; seenMu guards seen. All three are leaf locks: never held while calling the hub,
// a session or the store, so they add nothing to the hub.mu -> session.mu
// order. written is owned by presenceLoop, marks and watermark by
// catchUpLoop, the listener by listen. enabled and listener are set in
// start, before any loop or socket exists, and only read afterwards.
// Store calls from the committer goroutine (liveElsewhere, via release) are
// bounded by a 5 s timeout and happen only for releases, never per send.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
)

type cluster struct {
	b       *Broker
	enabled bool // the store has LISTEN/NOTIFY, so other nodes may exist

	hints    chan hint     // outgoing NOTIFY payloads; full means dropped (the catch-up delivers)
	reload   chan struct{} // asks for a reload of remote presences (capacity 1)
	catchUp  chan struct{} // asks for a catch-up poll now (capacity 1)
	listener store.Listener

	mu        sync.RWMutex
	remote    map[string][]remotePeer           // mesh id -> live sessions on other nodes
	remoteKey map[string]map[memberSession]bool // the same, as a set for dispatch
	loaded    bool                              // remote holds a first load (no announcements for it)

	written   map[string]store.PresenceState // presence id -> state last written; owned by syncPresences
	marks     []seqMark                      // owned by the catch-up loop
	watermark int64                          // owned by the catch-up loop

	schedMu   sync.Mutex // leaf
	scheduled map[releaseKey]bool

	seenMu sync.Mutex           // leaf
	seen   map[releaseKey]int64 // local session -> highest seq it was offered or read (catch-up skips older)
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
		remote: map[string][]remotePeer{}, written: map[string]store.PresenceState{}, scheduled: map[releaseKey]bool{}, seen: map[releaseKey]int64{},
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
	c.claimDead(ctx, true)
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
// as dropped now: they may resume (on any node) within the window. A node
// without its lock counts as dead once it missed two heartbeats, so a
// listener reconnecting after a network blip is not taken over; at start
// (atStart) at once, so a restarted broker takes over its predecessor's
// sessions before serving.
func (c *cluster) claimDead(ctx context.Context, atStart bool) {
	b := c.b
	now := b.now()
	quiet := now.Add(-2 * b.opts.HeartbeatInterval)
	if atStart {
		quiet = now
	}
	dead, err := b.store.ClaimDeadNodes(ctx, store.DeadNodeRule{Self: b.opts.NodeID,
		StaleBefore: now.Add(-b.opts.NodeDeadAfter), QuietBefore: quiet, Now: now})
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
		c.claimDead(ctx, false)
		c.sweepOrphans(ctx)
		cancel()
	}
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
