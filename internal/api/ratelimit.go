package api

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// limiter is a token bucket per client address shared by the public invite
// routes: perMin requests per minute, burst perMin.
type limiter struct {
	mu      sync.Mutex
	perMin  float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perMin int) *limiter {
	return &limiter{perMin: float64(perMin), buckets: map[string]*bucket{}}
}

func (l *limiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 10000 {
		l.prune(now)
	}
	b := l.buckets[addr]
	if b == nil {
		b = &bucket{tokens: l.perMin, last: now}
		l.buckets[addr] = b
	}
	b.tokens = min(l.perMin, b.tokens+now.Sub(b.last).Minutes()*l.perMin)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// prune forgets buckets that have refilled completely: they are
// indistinguishable from new ones.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) > time.Minute {
			delete(l.buckets, k)
		}
	}
}

// clientAddr is the TCP peer's IP. X-Forwarded-For is not trusted: behind a
// proxy, every client shares the proxy's budget (see docs/decisions.md).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(clientAddr(r))
	return ip != nil && ip.IsLoopback()
}

// limited wraps a public route with the per-address limit; fail renders
// the refusal in the route's own format.
func (a *API) limited(h http.HandlerFunc, fail func(http.ResponseWriter, *http.Request, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.limit.allow(clientAddr(r), a.now()) {
			a.RateLimited()
			w.Header().Set("Retry-After", "60")
			w.Header().Set("Cache-Control", "no-store")
			fail(w, r, errRateLimited)
			return
		}
		h(w, r)
	}
}
