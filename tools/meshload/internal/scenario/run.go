package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
)

// Names lists the scenarios Run knows.
var Names = []string{"dm", "broadcast", "connect", "held"}

// Run runs one scenario. The error is for runs that could not happen
// (setup refused, sessions not admitted); a run that happened but lost
// messages returns a Result whose Failures say so.
func Run(ctx context.Context, name string, env Env, opts Options) (*Result, error) {
	opts.Defaults(name)
	switch name {
	case "dm":
		return runDM(ctx, env, opts)
	case "broadcast":
		return runBroadcast(ctx, env, opts)
	case "connect":
		return runConnect(ctx, env, opts)
	case "held":
		return runHeld(ctx, env, opts)
	}
	return nil, fmt.Errorf("unknown scenario %q (want one of %v)", name, Names)
}

// connected builds and connects a one-mesh population and waits until
// the setup's peer events are through.
func connected(ctx context.Context, env Env, opts Options) (*population, error) {
	if opts.Sessions < 2 {
		return nil, fmt.Errorf("need at least 2 sessions, got %d", opts.Sessions)
	}
	p, err := newPopulation(ctx, env, opts, []int{opts.Sessions})
	if err != nil {
		return nil, err
	}
	if _, _, err := p.dialAll(ctx, opts.DialConcurrency); err != nil {
		p.closeAll()
		return nil, err
	}
	if err := p.barrier(ctx); err != nil {
		p.closeAll()
		return nil, err
	}
	p.progress("%d sessions connected", opts.Sessions)
	return p, nil
}

// rssWatch samples the target's RSS during the load when its pid is known.
type rssWatch struct {
	s      *brokerproc.Sampler
	before int64
}

func watchRSS(pid int) *rssWatch {
	if pid <= 0 {
		return nil
	}
	before, _, err := brokerproc.RSS(pid)
	if err != nil {
		return nil
	}
	return &rssWatch{s: brokerproc.Sample(pid, 100*time.Millisecond), before: before}
}

func (w *rssWatch) stop(sessions int) *RSSStats {
	if w == nil {
		return nil
	}
	peak, end := w.s.Stop()
	st := &RSSStats{BeforeMB: mib(w.before), PeakMB: mib(peak), EndMB: mib(end)}
	return st
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// result assembles what every message scenario reports.
func (p *population) result(name string, start time.Time, rss *RSSStats) *Result {
	counts := p.v.Counts()
	r := &Result{
		Scenario: name, Target: "broker", Backend: p.env.Backend, Options: p.opts, Started: start,
		Seconds: p.opts.Duration.Seconds(), Sent: p.sent.Load(),
		Throughput:   rate(counts.Acked, start, p.lastAck.Load()),
		DeliveryRate: rate(counts.Delivered, start, p.lastDelivery.Load()),
		AckLatency:   p.v.AckLatency.Summary(), EndToEnd: p.v.EndToEnd.Summary(),
		EndToEndLabel: "send -> push at the last recipient",
		Counts:        counts, Decrypt: p.decrypt.Load(), CountMismatch: p.mismatch.Load(),
		Errors: p.errs.snapshot(), SystemEvents: p.systemEvents(), RSS: rss, Failures: []string{},
	}
	if p.env.Relay {
		r.Target = "relay"
	}
	if counts.Lost > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d acked deliveries lost (not received within the %s drain)", counts.Lost, p.opts.Drain))
	}
	if counts.Misrouted > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d deliveries to sessions that were not recipients", counts.Misrouted))
	}
	if r.Decrypt > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d pushes did not decrypt to what their sender sent", r.Decrypt))
	}
	if counts.Acked == 0 && r.Sent > 0 {
		r.Failures = append(r.Failures, "no send was acked")
	}
	return r
}

// finish closes the sessions; any that the broker dropped is a failure.
// It returns how many were dropped.
func (p *population) finish(r *Result) int {
	dropped := p.closeAll()
	for i, d := range dropped {
		if i == 3 {
			r.Failures = append(r.Failures, fmt.Sprintf("... %d sessions dropped by the broker in all", len(dropped)))
			break
		}
		r.Failures = append(r.Failures, "dropped by the broker: "+d)
	}
	return len(dropped)
}
