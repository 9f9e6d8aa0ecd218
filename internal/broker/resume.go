package broker

import (
	"context"
	"time"
)

// resumeRecentSessions runs once at start, before any socket is served,
// on SQLite, where one broker owns the store: every session the previous
// process served (SIGTERM drain or crash) may resume within the resume
// window, counted from its recorded end, or from now for a process that
// died without recording one (that end is recorded now). A client
// reconnecting after a restart thus gets `resumed: true` and its mesh sees
// peer_returned. On PostgreSQL several nodes share the store and the
// cluster does this (dead-node takeover, presences within the window).
func (b *Broker) resumeRecentSessions() {
	if b.store.Backend() != "sqlite" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	now := b.now()
	recent, err := b.store.RecentSessions(ctx, "", now.Add(-b.opts.ResumeWindow))
	if err != nil {
		b.log.Warn("listing the previous process's sessions failed; they reconnect as new sessions", "err", err)
		return
	}
	for _, r := range recent {
		end := now
		if r.EndedAt != nil {
			end = *r.EndedAt
		} else if err := b.store.EndPresence(ctx, r.PresenceID, now); err != nil {
			b.log.Warn("recording the end of a previous process's session failed", "presence", r.PresenceID, "err", err)
		}
		b.hub.markDropped(r.MeshID, memberSession{r.MemberID, r.SessionID}, end.Add(b.opts.ResumeWindow))
	}
}
