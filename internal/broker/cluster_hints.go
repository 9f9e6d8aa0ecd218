package broker

// Wake-up hints between nodes (PostgreSQL LISTEN/NOTIFY) and the catch-up
// poll that covers lost ones. See cluster.go for the design.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// catchUpLag is how far behind the newest seq the catch-up watermark stays.
// PostgreSQL draws seqs before commit, so a transaction may become visible
// after a later seq; it must commit within this lag (commits time out at
// 10 s) for the catch-up poll to see it.
const catchUpLag = 20 * time.Second

// fullCatchUpEvery is how often the catch-up wakes every session with rows
// past the watermark, not only those with rows past what they have seen: a
// row that became visible after a later seq the session already read (a
// late commit on another node) whose hint was lost too is then delivered.
// It must be shorter than catchUpLag minus the 10 s commit limit, so every
// such row is past the watermark at one full pass at least.
const fullCatchUpEvery = 5 * time.Second

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
// watermark and newer than anything they were offered or read (noteSeen),
// every CatchUpInterval or when asked. Skipping what a session has seen
// keeps the poll from re-reading rows that are merely unacked or held by
// the gate (which would also push held messages out of memory).
func (c *cluster) catchUpLoop() {
	b := c.b
	t := time.NewTicker(b.opts.CatchUpInterval)
	defer t.Stop()
	var lastFull time.Time
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-c.catchUp:
		}
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ws, maxSeq, err := b.store.PendingWakeups(ctx, b.opts.NodeID, b.now(), c.watermark)
		cancel()
		if err != nil {
			if b.ctx.Err() == nil {
				b.log.Warn("cluster: catch-up poll failed", "err", err)
			}
			continue
		}
		now := time.Now()
		full := now.Sub(lastFull) >= fullCatchUpEvery
		if full {
			lastFull = now
		}
		for _, w := range ws {
			rk := releaseKey{w.MeshID, memberSession{w.MemberID, w.SessionID}}
			if !full && w.MaxSeq <= c.seenSeq(rk) {
				continue
			}
			if s := b.hub.lookup(rk.meshID, rk.key); s != nil {
				s.requestSync()
			}
		}
		c.advanceWatermark(now, maxSeq)
		c.pruneSeen()
	}
}

// noteSeen records that a local session was offered, or read from the
// store, the rows up to seq. Called by the committer after a commit and by
// a session's sync; cheap and a no-op without other nodes.
func (c *cluster) noteSeen(meshID string, key memberSession, seq int64) {
	if !c.enabled {
		return
	}
	rk := releaseKey{meshID, key}
	c.seenMu.Lock()
	if seq > c.seen[rk] {
		c.seen[rk] = seq
	}
	c.seenMu.Unlock()
}

// noteCommitted records a committed message for its recipients on this
// node: their sessions got it offered, or were woken to claim it.
func (c *cluster) noteCommitted(msg *store.NewMessage, seq int64) {
	if !c.enabled {
		return
	}
	for _, r := range msg.Recipients {
		key := memberSession{r.MemberID, r.SessionID}
		if r.SessionID != "" && c.b.hub.lookup(msg.MeshID, key) != nil {
			c.noteSeen(msg.MeshID, key, seq)
		}
	}
}

func (c *cluster) seenSeq(rk releaseKey) int64 {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	return c.seen[rk]
}

// pruneSeen forgets sessions that are no longer live here.
func (c *cluster) pruneSeen() {
	c.seenMu.Lock()
	keys := make([]releaseKey, 0, len(c.seen))
	for rk := range c.seen {
		keys = append(keys, rk)
	}
	c.seenMu.Unlock()
	for _, rk := range keys {
		if c.b.hub.lookup(rk.meshID, rk.key) == nil {
			c.seenMu.Lock()
			delete(c.seen, rk)
			c.seenMu.Unlock()
		}
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

func (c *cluster) requestCatchUp() {
	select {
	case c.catchUp <- struct{}{}:
	default:
	}
}
