package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
)

// runConnect opens Sessions sessions in meshes of MeshSize, measures the
// hello rate of the opening, then holds them idle for Hold and reads the
// broker's memory. Every session must still be open at the end.
func runConnect(ctx context.Context, env Env, opts Options) (*Result, error) {
	var sizes []int
	for left := opts.Sessions; left > 0; left -= opts.MeshSize {
		sizes = append(sizes, min(left, opts.MeshSize))
	}
	p, err := newPopulation(ctx, env, opts, sizes)
	if err != nil {
		return nil, err
	}
	var before int64
	if env.PID > 0 {
		before, _, _ = brokerproc.RSS(env.PID)
	}
	rss := watchRSS(env.PID)
	start := time.Now()
	lat, elapsed, err := p.dialAll(ctx, opts.DialConcurrency)
	if err != nil {
		if rss != nil {
			rss.stop(0)
		}
		p.closeAll()
		return nil, err
	}
	p.progress("%d sessions connected in %.1fs; holding them idle for %s", p.n, elapsed.Seconds(), opts.Hold)
	if err := p.barrier(ctx); err != nil {
		p.closeAll()
		return nil, fmt.Errorf("sessions did not answer a ping after connecting: %w", err)
	}
	steadyDone := env.steady(ctx, opts.Hold)
	select {
	case <-time.After(opts.Hold):
	case <-ctx.Done():
	}
	steadyDone()
	r := p.result("connect", start, rss.stop(p.n))
	r.Seconds = time.Since(start).Seconds()
	r.EndToEndLabel = ""
	h := &HelloStats{Sessions: p.n, Meshes: len(sizes), Seconds: elapsed.Seconds(),
		Rate: float64(p.n) / elapsed.Seconds(), Latency: verify.Summarize(lat)}
	r.Hello = h
	if r.RSS != nil && env.PID > 0 {
		if held, _, err := brokerproc.RSS(env.PID); err == nil {
			r.RSS.EndMB = mib(held)
			r.RSS.BeforeMB = mib(before)
			r.RSS.PerSessionKB = float64(held-before) / 1024 / float64(p.n)
		}
	}
	r.Failures = r.Failures[:0] // no messages: only dropped sessions fail a connect run
	h.Dropped = p.finish(r)
	return r, nil
}
