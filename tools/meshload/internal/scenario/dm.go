package scenario

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// runDM: every session sends crypto_box DMs to random other sessions,
// either at a fixed total rate or as fast as its window of unacked sends
// allows.
func runDM(ctx context.Context, env Env, opts Options) (*Result, error) {
	p, err := connected(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	rss := watchRSS(env.PID)
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, opts.Duration)
	steadyDone := env.steady(ctx, opts.Duration)
	var wg sync.WaitGroup
	for i := range p.n {
		rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.paced(lctx, i, p.n, start, func() error {
				peer := rng.IntN(p.n - 1)
				if peer >= i {
					peer++
				}
				return p.sendDM(i, peer, protocol.PriorityNow)
			})
		}()
	}
	wg.Wait()
	cancel()
	steadyDone()
	p.drain(ctx)
	r := p.result("dm", start, rss.stop(p.n))
	p.finish(r)
	return r, nil
}

// paced runs send for session idx until ctx ends. With a rate, each of
// the `of` sending sessions sends every of/rate seconds from a random
// phase, so together they send the rate; one that falls behind catches up
// only as far as its window allows. Without a rate it sends whenever its
// window has room.
func (p *population) paced(ctx context.Context, idx, of int, start time.Time, send func() error) {
	var interval time.Duration
	if p.opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(of) / float64(p.opts.Rate))
	}
	next := start
	if interval > 0 {
		next = start.Add(rand.N(interval))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
			next = next.Add(interval)
		}
		if !p.acquire(ctx, idx) || send() != nil {
			return
		}
	}
}
