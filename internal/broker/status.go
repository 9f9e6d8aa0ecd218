package broker

import (
	"time"
)

// Status sources as list_peers reports them in statusSource.
const (
	sourceManual   = "manual"   // set_status without source, or "manual"
	sourceInferred = "inferred" // the bridge's guess from the transcript
	sourceHook     = "hook"     // POST /hook/set-status
	sourceTTL      = "ttl"      // working expired after STATUS_TTL_SECONDS
)

// applyStatus folds one status signal, received at `at`, into the session's
// effective status (protocol.md §5) and reports whether it took effect:
//   - dnd is set and cleared only by manual signals;
//   - a hook signal is authoritative for HOOK_FRESH_WINDOW_SECONDS: inferred
//     signals inside that window are ignored;
//   - every accepted signal refreshes the TTL of a working status.
//
// Held messages flow the moment the status becomes idle, whatever the source
// (releaseLocked).
func (s *session) applyStatus(status, source string, at time.Time) bool {
	window := s.b.cfg.HookFreshWindow
	s.mu.Lock()
	switch {
	case (s.status == "dnd" || status == "dnd") && source != sourceManual:
		s.mu.Unlock()
		return false
	case source == sourceInferred && !s.hookAt.IsZero() && at.Sub(s.hookAt) < window:
		s.mu.Unlock()
		return false
	}
	if source == sourceHook {
		s.hookAt = at
	}
	wasHeld := s.status != "idle"
	s.status, s.source, s.statusAt = status, source, at
	needSync := wasHeld && status == "idle" && s.releaseLocked()
	s.mu.Unlock()
	if needSync {
		s.requestSync()
	}
	return true
}

// expireWorking turns a working status idle once it has not been refreshed
// for ttl, and releases what it held.
func (s *session) expireWorking(now time.Time, ttl time.Duration) {
	s.mu.Lock()
	needSync := false
	if s.status == "working" && now.Sub(s.statusAt) >= ttl {
		s.status, s.source, s.statusAt = "idle", sourceTTL, now
		needSync = s.releaseLocked()
	}
	s.mu.Unlock()
	if needSync {
		s.requestSync()
	}
}

// sweepStatus runs the STATUS_TTL_SECONDS rule every StatusSweepInterval.
// It reads only memory: the hub snapshot is taken and released before any
// session lock (lock order hub.mu -> session.mu).
func (b *Broker) sweepStatus() {
	ttl := b.cfg.StatusTTL
	if ttl <= 0 {
		return // 0 disables the TTL
	}
	t := time.NewTicker(b.opts.StatusSweepInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		now := b.now()
		for _, s := range b.hub.all() {
			s.expireWorking(now, ttl)
		}
	}
}
