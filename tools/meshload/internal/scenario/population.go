package scenario

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/meshsetup"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/wire"
)

// population is the set of sessions of one run, indexed 0..n-1, and the
// wire.Handler that feeds their pushes and replies to the verifier.
//
// Everything built before the sessions connect (ids, box, index, meshKey,
// senders) is read-only afterwards. Each sendState's mutex guards its
// pending map; counters are atomics; pairs is a sync.Map.
type population struct {
	env      Env
	opts     Options
	n        int
	ids      []*wire.Identity
	box      []wire.BoxKeys
	index    map[string]int // routing pubkey -> session index
	meshKey  []*[32]byte    // per session: its mesh's message key
	sessions []*wire.Session
	senders  []*sendState
	pairs    sync.Map // pairKey -> *[32]byte shared box key
	v        *verify.Verifier

	errs         errCounter
	sent         atomic.Int64
	decrypt      atomic.Int64
	mismatch     atomic.Int64
	lastAck      atomic.Int64 // unix ns of the latest ack
	lastDelivery atomic.Int64 // unix ns of the latest message push
	// onPush, when set, sees every verified message push (held uses it).
	onPush func(idx int, f *wire.Frame, at time.Time)
}

type sendState struct {
	slots   chan struct{} // window: one token per send in flight
	mu      sync.Mutex
	pending map[string]pendingSend // by send id
}

type pendingSend struct {
	at     time.Time
	expect verify.Set
}

// newPopulation creates the members: one mesh per entry of meshSizes
// through the HTTP API, or local keys for the relay.
func newPopulation(ctx context.Context, env Env, opts Options, meshSizes []int) (*population, error) {
	n := 0
	for _, s := range meshSizes {
		n += s
	}
	p := &population{env: env, opts: opts, n: n, index: make(map[string]int, n), v: verify.New(n)}
	api := meshsetup.NewClient(env.URL, env.AdminToken, opts.ClaimConcurrency)
	for mi, size := range meshSizes {
		var (
			meshID  string
			members []meshsetup.Member
			root    = make([]byte, protocol.RootKeySize)
		)
		if env.Relay {
			meshID = "relay-" + strconv.Itoa(mi)
			_, _ = rand.Read(root)
			for i := range size {
				_, key, _ := ed25519.GenerateKey(rand.Reader)
				members = append(members, meshsetup.Member{ID: fmt.Sprintf("mem_relay_%d", i), Name: fmt.Sprintf("load-%d", i), Key: key})
			}
		} else {
			m, err := api.Create(ctx, fmt.Sprintf("meshload %d", mi), size, opts.ClaimConcurrency)
			if err != nil {
				return nil, fmt.Errorf("setting up mesh %d of %d: %w", mi+1, len(meshSizes), err)
			}
			meshID, members, root = m.ID, m.Members, m.RootKey
		}
		mk, err := protocol.MeshMessageKey(root, meshID)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			id := wire.NewIdentity(meshID, m.ID, m.Name, m.Key)
			bk, err := wire.NewBoxKeys(m.Key)
			if err != nil {
				return nil, err
			}
			p.index[id.Pub] = len(p.ids)
			p.ids, p.box, p.meshKey = append(p.ids, id), append(p.box, bk), append(p.meshKey, mk)
		}
		p.progress("mesh %d/%d ready: %d members", mi+1, len(meshSizes), size)
	}
	p.sessions = make([]*wire.Session, n)
	p.senders = make([]*sendState, n)
	for i := range p.senders {
		p.senders[i] = &sendState{slots: make(chan struct{}, max(1, opts.Window)), pending: map[string]pendingSend{}}
	}
	return p, nil
}

func (p *population) progress(format string, args ...any) {
	if p.env.Progress != nil {
		fmt.Fprintf(p.env.Progress, "meshload: "+format+"\n", args...)
	}
}

// dialAll opens every session, concurrency at a time, and returns each
// session's dial -> hello_ack latency and the whole phase's duration.
func (p *population) dialAll(ctx context.Context, concurrency int) ([]time.Duration, time.Duration, error) {
	url, err := wire.WSURL(p.env.URL)
	if err != nil {
		return nil, 0, err
	}
	lat := make([]time.Duration, p.n)
	jobs := make(chan int)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range max(1, concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t0 := time.Now()
				dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
				s, err := wire.Dial(dctx, url, i, p.ids[i], p)
				dcancel()
				if err != nil {
					var he *wire.HelloError
					if errors.As(err, &he) && he.Code == protocol.CodeCapacity {
						err = fmt.Errorf("%w (the broker's MAX_CONNECTIONS_PER_MESH is below the mesh's %d sessions; raise it, or use --spawn)", err, p.opts.MeshSizeOr(p.n))
					}
					select {
					case errc <- fmt.Errorf("session %d: %w", i, err):
					default:
					}
					cancel()
					continue
				}
				lat[i] = time.Since(t0)
				p.sessions[i] = s
			}
		}()
	}
feed:
	for i := range p.n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errc:
		return nil, 0, err
	default:
	}
	return lat, elapsed, ctx.Err()
}

// barrier pings every session: the pong comes after every frame queued
// for it before, so the peer_joined storm of the setup is over.
func (p *population) barrier(ctx context.Context) error {
	return p.each(ctx, 64, func(ctx context.Context, s *wire.Session) error { return s.Ping(ctx) })
}

// each runs fn on every open session, concurrency at a time.
func (p *population) each(ctx context.Context, concurrency int, fn func(context.Context, *wire.Session) error) error {
	sem := make(chan struct{}, concurrency)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, s := range p.sessions {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := fn(cctx, s); err != nil {
				once.Do(func() { first = fmt.Errorf("session %d: %w", s.Idx, err) })
			}
		}()
	}
	wg.Wait()
	return first
}

// closeAll closes every session and reports those that had already ended
// on their own (dropped by the broker).
func (p *population) closeAll() (dropped []string) {
	var mu sync.Mutex
	_ = p.each(context.Background(), 256, func(_ context.Context, s *wire.Session) error {
		select {
		case <-s.Done():
			mu.Lock()
			dropped = append(dropped, fmt.Sprintf("session %d: %v", s.Idx, s.Err()))
			mu.Unlock()
		default:
			s.Close()
		}
		return nil
	})
	sort.Strings(dropped)
	return dropped
}

func (p *population) systemEvents() map[string]int64 {
	out := map[string]int64{}
	for _, s := range p.sessions {
		if s != nil {
			for k, v := range s.SystemEvents() {
				out[k] += v
			}
		}
	}
	return out
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// rate is count per second between start and the unix-ns end mark.
func rate(count int64, start time.Time, endNs int64) float64 {
	if count == 0 || endNs == 0 {
		return 0
	}
	secs := time.Unix(0, endNs).Sub(start).Seconds()
	if secs <= 0 {
		return math.Inf(1)
	}
	return float64(count) / secs
}

// errCounter counts errors by code.
type errCounter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errCounter) add(code string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[code]++
	e.mu.Unlock()
}

func (e *errCounter) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}
