package broker

import (
	"net"
	"sync"
	"time"
)

// keyedLimiter is a token bucket per key (a member, a client address),
// shared by goroutines. mu is a leaf lock. The map is bounded: past
// maxKeys it is pruned of full buckets, and cleared if that is not
// enough, which only grants fresh bursts.
type keyedLimiter struct {
	rate    float64 // tokens per second
	burst   float64
	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

const maxLimiterKeys = 20000

func newKeyedLimiter(ratePerSec, burst float64) *keyedLimiter {
	return &keyedLimiter{rate: ratePerSec, burst: burst, buckets: map[string]*tokenBucket{}}
}

func (l *keyedLimiter) bucketLocked(key string, now time.Time) *tokenBucket {
	tb := l.buckets[key]
	if tb == nil {
		if len(l.buckets) >= maxLimiterKeys {
			l.pruneLocked(now)
		}
		tb = &tokenBucket{rate: l.rate, burst: l.burst, tokens: l.burst, last: now}
		l.buckets[key] = tb
	}
	return tb
}

func (l *keyedLimiter) pruneLocked(now time.Time) {
	for k, tb := range l.buckets {
		if tb.tokens+now.Sub(tb.last).Seconds()*tb.rate >= tb.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxLimiterKeys {
		clear(l.buckets)
	}
}

// allow spends one token of key's bucket.
func (l *keyedLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucketLocked(key, now).allow(now)
}

// exhausted reports whether key has no token left, without spending one.
func (l *keyedLimiter) exhausted(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	tb := l.buckets[key]
	if tb == nil {
		return false
	}
	tb.refill(now)
	return tb.tokens < 1
}

// spend takes one token if there is one (a failure already happened; it
// is counted even if it empties the bucket).
func (l *keyedLimiter) spend(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucketLocked(key, now).allow(now)
}

// AuthGuard limits failed authentications per client address: hello
// refusals, hook 401s and signed admin requests refused 401/403 all spend
// from the same budget of AUTH_FAILURES_PER_MIN (burst the same). Once an
// address has none left, its attempts are refused as rate limited before
// any signature is verified or audit row written, so a stranger can burn
// neither CPU nor audit log. Successful authentications spend nothing.
type AuthGuard struct {
	lim     *keyedLimiter
	limited func(route string) // counts a refusal in /metrics
	failed  func(route string) // counts a failed authentication in /metrics
}

func newAuthGuard(perMin int, m *metrics) *AuthGuard {
	return &AuthGuard{
		lim:     newKeyedLimiter(float64(perMin)/60, float64(perMin)),
		limited: func(route string) { m.rateLimited.WithLabelValues("auth_" + route).Inc() },
		failed:  func(route string) { m.authFailures.WithLabelValues(route).Inc() },
	}
}

// Blocked reports (and counts) that the address at remoteAddr (host:port
// or host) is over its failed-authentication budget on route (hello, hook,
// admin).
func (g *AuthGuard) Blocked(route, remoteAddr string, now time.Time) bool {
	if !g.lim.exhausted(addrKey(remoteAddr), now) {
		return false
	}
	g.limited(route)
	return true
}

// Failed records one failed authentication from remoteAddr on route.
func (g *AuthGuard) Failed(route, remoteAddr string, now time.Time) {
	g.failed(route)
	g.lim.spend(addrKey(remoteAddr), now)
}

// addrKey is the client's IP: every port of one host shares its budget.
// X-Forwarded-For is not trusted (see docs/decisions.md).
func addrKey(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
