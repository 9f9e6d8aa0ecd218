package broker

import "github.com/claudemesh/claudemesh/internal/store"

// MemberRevoked applies a revocation this process just committed (the
// admin API) at once: the member leaves the cache, so its next hello and
// hooks are refused, and its sessions close with 4001, instead of waiting
// up to MemberPollInterval for the poller, which applies revocations made
// by other processes. The poller seeing it again changes nothing.
func (b *Broker) MemberRevoked(m store.Member) {
	if m.RevokedAt == nil {
		return
	}
	b.revokeSessions(m, b.members.apply(m))
}
