package broker

import (
	"sync"
	"time"
)

// replayCache remembers accepted hello signatures for the skew window, so
// the exact same signed hello cannot be used twice (protocol.md §2 check 5).
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // signature -> forget after
}

func newReplayCache() *replayCache { return &replayCache{seen: map[string]time.Time{}} }

// remember records sig until `until`; it reports false when sig is already
// recorded (a replay). Expired entries are pruned as the map grows.
func (r *replayCache) remember(sig string, now, until time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.seen[sig]; ok && now.Before(exp) {
		return false
	}
	if len(r.seen) >= 1024 && len(r.seen)%1024 == 0 {
		for k, exp := range r.seen {
			if !now.Before(exp) {
				delete(r.seen, k)
			}
		}
	}
	r.seen[sig] = until
	return true
}

// tokenBucket limits one session's sends. Only the session's reader uses
// it, so it needs no lock (keyedLimiter wraps shared ones in a mutex).
type tokenBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(perSec int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: float64(perSec), burst: float64(2 * perSec), tokens: float64(2 * perSec), last: now}
}

func (t *tokenBucket) allow(now time.Time) bool {
	t.refill(now)
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

func (t *tokenBucket) refill(now time.Time) {
	if now.After(t.last) {
		t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
		t.last = now
	}
}
