package broker

import (
	"time"

	"sync"
)

// memberSession identifies a session across reconnects (protocol.md §2).
type memberSession struct {
	memberID  string
	sessionID string
}

// meshSessions is the live routing table of one mesh on this node.
type meshSessions struct {
	live    map[memberSession]*session
	dropped map[memberSession]time.Time // recently ended, resumable until the time
	view    *routeView                  // built lazily from live; nil after any change to live
}

// hub holds every authenticated session of this node. Routing reads it
// under RLock; connect, disconnect and revoke take the write lock.
// Lock order: hub.mu before session.mu.
type hub struct {
	b      *Broker
	mu     sync.RWMutex
	meshes map[string]*meshSessions
}

func newHub(b *Broker) *hub { return &hub{b: b, meshes: map[string]*meshSessions{}} }

func (h *hub) meshLocked(meshID string) *meshSessions {
	m := h.meshes[meshID]
	if m == nil {
		m = &meshSessions{live: map[memberSession]*session{}, dropped: map[memberSession]time.Time{}}
		h.meshes[meshID] = m
	}
	return m
}

// admission is what register decided about a new session.
type admission struct {
	superseded *session // the old socket of a taken-over session, to close
	resumed    bool     // same (member, sessionId) was live or recently dropped
	returned   bool     // resumed after a drop: announce peer_returned
}

// register admits s unless the mesh is at its connection cap. A session
// taking over its own live predecessor never counts against the cap.
func (h *hub) register(s *session, maxConns int) (admission, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.meshLocked(s.meshID)
	key := s.key()
	var a admission
	if old := m.live[key]; old != nil {
		a.superseded, a.resumed = old, true
	} else if until, ok := m.dropped[key]; ok && h.b.now().Before(until) {
		a.resumed, a.returned = true, true
	}
	if a.superseded == nil && len(m.live) >= maxConns {
		return a, false
	}
	delete(m.dropped, key)
	m.live[key] = s
	m.view = nil
	return a, true
}

// unregister removes s if it is still the live holder of its key, and
// remembers it as resumable. It reports whether s was removed (false when a
// newer socket took the session over).
func (h *hub) unregister(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.meshes[s.meshID]
	if m == nil || m.live[s.key()] != s {
		return false
	}
	delete(m.live, s.key())
	m.view = nil
	now := h.b.now()
	if !s.ephemeral { // a one-shot session is never resumed (finishSession)
		m.dropped[s.key()] = now.Add(h.b.opts.ResumeWindow)
	}
	for k, until := range m.dropped { // prune lazily; bounded by sessions seen in the window
		if now.After(until) {
			delete(m.dropped, k)
		}
	}
	return true
}

// resumable reports whether a session is live or may still resume, so its
// rows must stay bound to it.
func (h *hub) resumable(meshID string, key memberSession) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	m := h.meshes[meshID]
	if m == nil {
		return false
	}
	if m.live[key] != nil {
		return true
	}
	until, ok := m.dropped[key]
	return ok && h.b.now().Before(until)
}

// markDropped records a session of a previous process as resumable until
// the given time.
func (h *hub) markDropped(meshID string, key memberSession, until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.meshLocked(meshID)
	if m.live[key] == nil {
		m.dropped[key] = until
	}
}

// sessions returns a snapshot of the mesh's live sessions.
func (h *hub) sessions(meshID string) []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	m := h.meshes[meshID]
	if m == nil {
		return nil
	}
	out := make([]*session, 0, len(m.live))
	for _, s := range m.live {
		out = append(out, s)
	}
	return out
}

// lookup returns the live session for (member, session), if any.
func (h *hub) lookup(meshID string, key memberSession) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if m := h.meshes[meshID]; m != nil {
		return m.live[key]
	}
	return nil
}

// memberSessions returns the live sessions of one member.
func (h *hub) memberSessions(meshID, memberID string) []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*session
	if m := h.meshes[meshID]; m != nil {
		for k, s := range m.live {
			if k.memberID == memberID {
				out = append(out, s)
			}
		}
	}
	return out
}

// online reports which members of the mesh have a live, non-ephemeral session.
func (h *hub) online(meshID string) map[string]bool {
	out := map[string]bool{}
	for _, s := range h.sessions(meshID) {
		if !s.ephemeral {
			out[s.member.ID] = true
		}
	}
	return out
}

// all returns a snapshot of every live session of this node.
func (h *hub) all() []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*session
	for _, m := range h.meshes {
		for _, s := range m.live {
			out = append(out, s)
		}
	}
	return out
}

func (h *hub) closeAll(code int, reason string) {
	for _, s := range h.all() {
		s.close(code, reason)
	}
}
