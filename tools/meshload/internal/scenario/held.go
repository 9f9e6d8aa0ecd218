package scenario

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/wire"
)

// heldSettle is how long held messages must stay held after the last ack
// before the recipients flip: a delivery in that window breaks gating.
const heldSettle = 250 * time.Millisecond

// runHeld: recipients set status working; senders send them priority
// "next" DMs, which the broker must hold; then each recipient in turn
// (FlipGap apart) sets idle, and the time from its flip to its last held
// delivery is measured.
func runHeld(ctx context.Context, env Env, opts Options) (*Result, error) {
	k, rcpt := opts.Senders, opts.Recipients
	if k < 1 || rcpt < 1 {
		return nil, fmt.Errorf("held needs at least one sender and one recipient")
	}
	p, err := connected(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	flipAt := make([]atomic.Int64, p.n) // unix ns, 0 until the flip is written
	lastAt := make([]atomic.Int64, p.n)
	var early atomic.Int64
	p.onPush = func(idx int, _ *wire.Frame, at time.Time) {
		if f := flipAt[idx].Load(); f == 0 || at.UnixNano() < f {
			early.Add(1)
		}
		storeMax(&lastAt[idx], at.UnixNano())
	}
	recipients := p.sessions[k:]
	if err := eachOf(ctx, recipients, func(ctx context.Context, s *wire.Session) error { return s.SetStatus(ctx, "working") }); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("set_status working: %w", err)
	}
	rss := watchRSS(env.PID)
	start := time.Now()
	var wg sync.WaitGroup
	for sender := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := sender; m < rcpt*opts.Held; m += k { // message m goes to recipient m/Held
				if !p.acquire(ctx, sender) || p.sendDM(sender, k+m/opts.Held, protocol.PriorityNext) != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(opts.Drain)
	for p.inFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(heldSettle)
	flips := make(chan error, rcpt)
	for i, s := range recipients {
		if i > 0 {
			time.Sleep(opts.FlipGap)
		}
		flipAt[k+i].Store(time.Now().UnixNano())
		go func() { flips <- s.SetStatus(ctx, "idle") }()
	}
	var flipErr error
	for range rcpt {
		if err := <-flips; err != nil && flipErr == nil {
			flipErr = err
		}
	}
	p.drain(ctx)
	r := p.result("held", start, rss.stop(p.n))
	r.Seconds = time.Since(start).Seconds()
	lat := make([]time.Duration, 0, rcpt)
	for i := range rcpt {
		if last := lastAt[k+i].Load(); last != 0 {
			lat = append(lat, time.Duration(last-flipAt[k+i].Load()))
		}
	}
	r.EndToEnd = verify.Summarize(lat)
	r.EndToEndLabel = "per recipient: flip to idle -> its last held delivery"
	r.Early = early.Load()
	if r.Early > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d held messages were delivered before their recipient turned idle", r.Early))
	}
	if flipErr != nil {
		r.Failures = append(r.Failures, "set_status idle: "+flipErr.Error())
	}
	p.finish(r)
	return r, nil
}

// eachOf runs fn on the given sessions at once.
func eachOf(ctx context.Context, ss []*wire.Session, fn func(context.Context, *wire.Session) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := fn(cctx, s); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}
