package broker

import (
	"sync"
	"time"
)

// pendingHook is a verified hook waiting for its session to connect.
type pendingHook struct {
	meshID, memberID, sessionID, cwd, status string
	at                                       time.Time
}

// maxPendingHooks bounds memory if many hooks name sessions that never come.
const maxPendingHooks = 4096

// hookGate holds parked hooks and the per-member hook rate limit.
// mu is a leaf lock: nothing else is acquired while holding it.
type hookGate struct {
	rate    int
	mu      sync.Mutex
	pending []pendingHook
	buckets map[string]*tokenBucket // mesh|member -> bucket
}

func newHookGate(perSec int) *hookGate {
	return &hookGate{rate: perSec, buckets: map[string]*tokenBucket{}}
}

// allow spends one token of the member's bucket (burst twice the rate).
func (g *hookGate) allow(key string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	tb := g.buckets[key]
	if tb == nil {
		if len(g.buckets) >= 10000 {
			g.buckets = map[string]*tokenBucket{} // forgetting only grants a fresh burst
		}
		tb = newTokenBucket(g.rate, now)
		g.buckets[key] = tb
	}
	return tb.allow(now)
}

// park stores a hook; expired ones are pruned, and the oldest is dropped
// past maxPendingHooks.
func (g *hookGate) park(h pendingHook) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(h.at)
	if len(g.pending) >= maxPendingHooks {
		g.pending = g.pending[1:]
	}
	g.pending = append(g.pending, h)
}

// take removes every unexpired parked hook for the session's member that
// names its session_id (or, when none does, its cwd) and returns the newest.
// Older matches are superseded by it.
func (g *hookGate) take(s *session, now time.Time) (pendingHook, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pruneLocked(now)
	match := func(h pendingHook, bySession bool) bool {
		if h.meshID != s.meshID || h.memberID != s.member.ID {
			return false
		}
		if bySession {
			return h.sessionID != "" && h.sessionID == s.sessionID
		}
		return h.cwd != "" && h.cwd == s.hello.CWD
	}
	for _, bySession := range []bool{true, false} {
		var best pendingHook
		found := false
		kept := g.pending[:0]
		for _, h := range g.pending {
			if match(h, bySession) {
				if !found || !h.at.Before(best.at) {
					best = h
				}
				found = true
				continue
			}
			kept = append(kept, h)
		}
		clear(g.pending[len(kept):])
		g.pending = kept
		if found {
			return best, true
		}
	}
	return pendingHook{}, false
}

func (g *hookGate) pruneLocked(now time.Time) {
	kept := g.pending[:0]
	for _, h := range g.pending {
		if now.Sub(h.at) < pendingHookTTL {
			kept = append(kept, h)
		}
	}
	clear(g.pending[len(kept):])
	g.pending = kept
}
