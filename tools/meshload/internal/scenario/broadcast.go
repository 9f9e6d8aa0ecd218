package scenario

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
)

// runBroadcast: the first Senders sessions broadcast secretbox messages to
// "*" in a mesh of Sessions; each must reach every other session.
func runBroadcast(ctx context.Context, env Env, opts Options) (*Result, error) {
	if opts.Senders >= opts.Sessions {
		return nil, fmt.Errorf("broadcast needs fewer senders (%d) than sessions (%d)", opts.Senders, opts.Sessions)
	}
	p, err := connected(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	rss := watchRSS(env.PID)
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, opts.Duration)
	steadyDone := env.steady(ctx, opts.Duration)
	var wg sync.WaitGroup
	for i := range opts.Senders {
		expect := verify.AllExcept(p.n, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.paced(lctx, i, opts.Senders, start, func() error { return p.sendBroadcast(i, expect) })
		}()
	}
	wg.Wait()
	cancel()
	steadyDone()
	p.drain(ctx)
	r := p.result("broadcast", start, rss.stop(p.n))
	r.EndToEndLabel = "send -> push at the last of the other sessions"
	p.finish(r)
	return r, nil
}
