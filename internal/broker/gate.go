package broker

import "github.com/claudemesh/claudemesh/internal/protocol"

// maxHeldBytes bounds the held messages a session keeps in memory; past it
// the release falls back to reloading from the store.
const maxHeldBytes = 1 << 20

// heldLocked reports whether a message of this priority waits under the
// current status (protocol.md §4 gating table). Caller holds s.mu.
func (s *session) heldLocked(priority string) bool {
	return priority != protocol.PriorityNow && s.status != "idle"
}

// holdLocked remembers a gated message for the release. Live messages stay
// in memory in offer order. A gated backlog row, or overflow, switches to
// heldInStore: the release then syncs, which loads every pending row in
// store order, so memory is dropped rather than mixed with the store's order.
// Caller holds s.mu.
func (s *session) holdLocked(it pushItem) {
	if it.fromStore || s.heldInStore || s.heldBytes+len(it.frame) > maxHeldBytes {
		s.dropHeldLocked()
		s.heldInStore = true
		return
	}
	s.held = append(s.held, it)
	s.heldBytes += len(it.frame)
}

// releaseLocked runs when the status turns idle. It pushes the held live
// messages at once, in order, and reports whether a sync must follow: when
// some held messages exist only in the store, or a sync is running (its
// push phase comes after this, under the now idle status, and holds the
// same rows). Caller holds s.mu.
func (s *session) releaseLocked() (needSync bool) {
	held, inStore := s.held, s.heldInStore
	s.dropHeldLocked()
	if inStore || s.syncing {
		s.scheduleSyncLocked() // later live offers wait behind the store's rows
		return true
	}
	for _, it := range held {
		s.pushLocked(it, false)
	}
	return false
}

// dropHeldLocked forgets the held messages (they stay pending in the store).
// It allocates a fresh slice: releaseLocked still reads the old one.
func (s *session) dropHeldLocked() {
	s.held, s.heldBytes, s.heldInStore = nil, 0, false
}
