// Package verify checks, while a run goes, that every acked message reaches
// every intended recipient once after messageId dedup, and measures
// latencies from send to ack and from send to the last recipient's push.
package verify

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Set is a set of recipient session indices.
type Set []uint64

// NewSet returns an empty set for indices below n.
func NewSet(n int) Set { return make(Set, (n+63)/64) }

// Add puts i in the set.
func (s Set) Add(i int) { s[i/64] |= 1 << (i % 64) }

// Has reports whether i is in the set.
func (s Set) Has(i int) bool { return i/64 < len(s) && s[i/64]&(1<<(i%64)) != 0 }

// Len counts the members.
func (s Set) Len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// AllExcept is {0..n-1} minus skip: a broadcast's recipients.
func AllExcept(n, skip int) Set {
	s := NewSet(n)
	for i := range n {
		if i != skip {
			s.Add(i)
		}
	}
	return s
}

// One is {i}: a DM's recipient.
func One(n, i int) Set {
	s := NewSet(n)
	s.Add(i)
	return s
}

const shardCount = 64

// Verifier tracks messages by messageId.
//
// Locking: a message lives in the shard picked by hashing its id, and that
// shard's mutex guards its map and entries. Counters are atomics; the
// latency collectors have their own mutexes and are only called after the
// shard lock is released, so no two locks are ever held together.
type Verifier struct {
	n      int
	seed   maphash.Seed
	shards [shardCount]shard

	outstanding atomic.Int64 // expected deliveries of acked messages not seen yet
	acked       atomic.Int64
	expected    atomic.Int64
	delivered   atomic.Int64 // first receipts, intended or not
	duplicates  atomic.Int64
	misrouted   atomic.Int64

	AckLatency Latencies // send -> ack
	EndToEnd   Latencies // send -> push at the last intended recipient
}

type shard struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	sentAt  time.Time
	acked   bool
	expect  Set
	got     Set
	matched int       // intended recipients seen
	last    time.Time // latest first receipt
}

// New returns a verifier for sessions indexed 0..n-1.
func New(n int) *Verifier {
	v := &Verifier{n: n, seed: maphash.MakeSeed()}
	for i := range v.shards {
		v.shards[i].m = map[string]*entry{}
	}
	return v
}

func (v *Verifier) shard(id string) *shard {
	return &v.shards[maphash.String(v.seed, id)%shardCount]
}

func (e *entry) complete() bool { return e.acked && e.matched == e.expect.Len() }

// Acked records a broker ack: messageID now must reach every index in
// expect. Pushes that came before the ack are matched here.
func (v *Verifier) Acked(messageID string, sentAt, ackAt time.Time, expect Set) {
	v.AckLatency.Add(ackAt.Sub(sentAt))
	n := expect.Len()
	sh := v.shard(messageID)
	sh.mu.Lock()
	e := sh.m[messageID]
	if e == nil {
		e = &entry{got: NewSet(v.n)}
		sh.m[messageID] = e
	}
	if e.acked { // one messageId acked twice would be a broker bug; keep the first
		sh.mu.Unlock()
		return
	}
	e.acked, e.sentAt, e.expect = true, sentAt, expect
	stray := 0
	for w := range e.got {
		e.matched += bits.OnesCount64(e.got[w] & expect[w])
		stray += bits.OnesCount64(e.got[w] &^ expect[w])
	}
	done, e2e, matched := e.complete(), e.last.Sub(sentAt), e.matched
	sh.mu.Unlock()
	v.acked.Add(1)
	v.expected.Add(int64(n))
	v.outstanding.Add(int64(n - matched))
	v.misrouted.Add(int64(stray))
	if done && n > 0 {
		v.EndToEnd.Add(e2e)
	}
}

// Delivered records a push of messageID at session index who.
func (v *Verifier) Delivered(messageID string, who int, at time.Time) {
	sh := v.shard(messageID)
	sh.mu.Lock()
	e := sh.m[messageID]
	if e == nil {
		e = &entry{got: NewSet(v.n)}
		sh.m[messageID] = e
	}
	if e.got.Has(who) {
		sh.mu.Unlock()
		v.duplicates.Add(1)
		return
	}
	e.got.Add(who)
	if at.After(e.last) {
		e.last = at
	}
	var intended, done bool
	var e2e time.Duration
	if e.acked {
		if intended = e.expect.Has(who); intended {
			e.matched++
			done, e2e = e.complete(), e.last.Sub(e.sentAt)
		}
	}
	acked := e.acked
	sh.mu.Unlock()
	v.delivered.Add(1)
	switch {
	case acked && intended:
		v.outstanding.Add(-1)
		if done {
			v.EndToEnd.Add(e2e)
		}
	case acked:
		v.misrouted.Add(1)
	}
}

// Outstanding is how many intended deliveries of acked messages are
// still missing; a run drains until it reaches zero.
func (v *Verifier) Outstanding() int64 { return v.outstanding.Load() }

// Counts is the verdict of a run.
type Counts struct {
	Acked      int64 `json:"acked"`
	Expected   int64 `json:"expected_deliveries"`
	Delivered  int64 `json:"delivered"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	Misrouted  int64 `json:"misrouted"`
	// Unacked counts deliveries of messages that never got an ack (a send
	// that failed after its commit, or a broker bug); not a loss.
	Unacked int64 `json:"unacked_deliveries"`
}

// Counts reads the verdict. Lost is every intended delivery of an acked
// message that has not arrived.
func (v *Verifier) Counts() Counts {
	c := Counts{Acked: v.acked.Load(), Expected: v.expected.Load(), Delivered: v.delivered.Load(),
		Lost: v.outstanding.Load(), Duplicates: v.duplicates.Load(), Misrouted: v.misrouted.Load()}
	for i := range v.shards {
		sh := &v.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if !e.acked {
				c.Unacked += int64(e.got.Len())
			}
		}
		sh.mu.Unlock()
	}
	return c
}

// Failed reports whether the counts show lost or misrouted messages.
func (c Counts) Failed() bool { return c.Lost > 0 || c.Misrouted > 0 }
