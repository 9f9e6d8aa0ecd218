// Package bench runs the standard set of quality.md (P1-P8) and writes
// the markdown report under bench/results.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/target"
)

// Config says how to run the set.
type Config struct {
	BrokerBin   string
	DatabaseURL string // PostgreSQL for P3; empty: a throwaway cluster
	Only        []string
	Quick       bool // a scaled-down smoke run of the same set: its figures are not the targets' figures
	Progress    io.Writer
	// ProfileDir, when set, receives the broker's profiles (<item>.cpu.pprof,
	// <item>.heap.pprof); it sits next to the results file, named after it.
	ProfileDir string
}

// Outcome is one figure of the set.
type Outcome struct {
	ID       string
	Figure   string
	Target   string
	Measured string
	Met      bool
	Lost     string // "0", a count, or "-" where nothing is sent
	Result   *scenario.Result
	Err      error
	Profile  *Profile   // the broker's profile during the run; nil: none taken
	Load     [2]float64 // 1-minute load average before and after
	Seconds  float64
}

type item struct {
	id, figure, goal string
	name             string
	opts             scenario.Options
	postgres         bool
	relay            bool                                    // run on the relay (P8)
	profile          string                                  // "cpu" or "heap": the broker profile taken during the load
	measure          func(r *scenario.Result) (string, bool) // figure and whether it meets the target
}

// standard is the set of quality.md. Durations and sizes are chosen so the
// whole set finishes in about five minutes on two cores.
func standard(quick bool) []item {
	dm := scenario.Options{Sessions: 200, Duration: 10 * time.Second, Window: 16}
	paced := scenario.Options{Sessions: 200, Duration: 10 * time.Second, Rate: 5000, Window: 16}
	connect := scenario.Options{Sessions: 10000, MeshSize: 100, Hold: 5 * time.Second, DialConcurrency: 64, ClaimConcurrency: 32}
	bcast := scenario.Options{Sessions: 500, Senders: 1, Rate: 20, Duration: 10 * time.Second, Window: 16}
	held := scenario.Options{Senders: 5, Recipients: 20, Held: 20, FlipGap: 50 * time.Millisecond}
	if quick {
		dm.Sessions, dm.Duration = 20, 2*time.Second
		paced.Sessions, paced.Duration, paced.Rate = 20, 2*time.Second, 500
		connect.Sessions, connect.Hold = 300, time.Second
		bcast.Sessions, bcast.Duration = 50, 2*time.Second
		held.Recipients, held.Held = 5, 5
	}
	throughput := func(min float64) func(*scenario.Result) (string, bool) {
		return func(r *scenario.Result) (string, bool) {
			return fmt.Sprintf("%s msg/s", num(r.Throughput)), r.Throughput >= min
		}
	}
	return []item{
		{id: "P1", figure: fmt.Sprintf("durable DM throughput, SQLite, %d sessions", dm.Sessions), goal: ">= 20,000 msg/s",
			name: "dm", opts: dm, profile: "cpu", measure: throughput(20000)},
		{id: "P8", figure: "P1 throughput / bare relay throughput, same settings", goal: ">= 0.5",
			name: "dm", opts: dm, relay: true},
		{id: "P2", figure: fmt.Sprintf("DM end-to-end latency at %s msg/s, SQLite", num(float64(paced.Rate))), goal: "p99 <= 25 ms",
			name: "dm", opts: paced, profile: "cpu", measure: func(r *scenario.Result) (string, bool) {
				return fmt.Sprintf("p99 %.1f ms (p50 %.1f, max %.1f; achieved %s msg/s)", r.EndToEnd.P99, r.EndToEnd.P50, r.EndToEnd.Max, num(r.Throughput)),
					r.EndToEnd.P99 <= 25 && r.EndToEnd.Count > 0
			}},
		{id: "P3", figure: fmt.Sprintf("durable DM throughput, PostgreSQL, %d sessions", dm.Sessions), goal: ">= 8,000 msg/s",
			name: "dm", opts: dm, postgres: true, profile: "cpu", measure: throughput(8000)},
		{id: "P4", figure: fmt.Sprintf("idle sessions held by one broker (%s in meshes of %d)", num(float64(connect.Sessions)), connect.MeshSize),
			goal: "10,000 sessions, RSS <= 400 MB, <= 40 KB each", name: "connect", opts: connect, profile: "heap",
			measure: func(r *scenario.Result) (string, bool) {
				if r.RSS == nil || r.Hello == nil {
					return "no RSS reading", false
				}
				held := r.Hello.Sessions - r.Hello.Dropped
				return fmt.Sprintf("%s held, RSS %.0f MiB, %.1f KiB each", num(float64(held)), r.RSS.EndMB, r.RSS.PerSessionKB),
					held >= 10000 && r.RSS.EndMB*1.048576 <= 400 && r.RSS.PerSessionKB*1.024 <= 40
			}},
		{id: "P5", figure: "hello rate (signature verify + member lookup), while opening P4's sessions", goal: ">= 3,000 hellos/s"},
		{id: "P6", figure: fmt.Sprintf("broadcast into %d sessions (%d/s)", bcast.Sessions, bcast.Rate), goal: "p99 send -> last push <= 100 ms",
			name: "broadcast", opts: bcast, profile: "cpu", measure: func(r *scenario.Result) (string, bool) {
				return fmt.Sprintf("p99 %.1f ms (p50 %.1f, max %.1f)", r.EndToEnd.P99, r.EndToEnd.P50, r.EndToEnd.Max),
					r.EndToEnd.P99 <= 100 && r.EndToEnd.Count > 0
			}},
		{id: "P7", figure: fmt.Sprintf("held messages after a flip to idle (%d recipients x %d)", held.Recipients, held.Held),
			goal: "all delivered within 50 ms", name: "held", opts: held,
			measure: func(r *scenario.Result) (string, bool) {
				return fmt.Sprintf("max %.1f ms (p50 %.1f, p99 %.1f)", r.EndToEnd.Max, r.EndToEnd.P50, r.EndToEnd.P99),
					r.EndToEnd.Max <= 50 && r.EndToEnd.Count == held.Recipients
			}},
	}
}

// Run runs the set and returns its outcomes in P1..P8 order.
func Run(ctx context.Context, cfg Config) ([]Outcome, error) {
	if _, err := brokerproc.RaiseNoFile(); err != nil {
		return nil, fmt.Errorf("raising the open-file limit: %w", err)
	}
	var out []Outcome
	var p1, p4 *Outcome
	for _, it := range standard(cfg.Quick) {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, it.id) {
			continue
		}
		o := Outcome{ID: it.id, Figure: it.figure, Target: it.goal, Lost: "-"}
		switch it.id {
		case "P5":
			fromP4(&o, p4)
			out = append(out, o)
			continue
		case "P8":
			if p1 == nil || p1.Result == nil {
				o.Err = fmt.Errorf("needs P1's result")
				out = append(out, o)
				continue
			}
		}
		progress(cfg.Progress, "%s: %s", it.id, it.figure)
		o.Load[0] = loadavg()
		start := time.Now()
		o.Result, o.Profile, o.Err = runItem(ctx, cfg, it)
		o.Seconds = time.Since(start).Seconds()
		o.Load[1] = loadavg()
		if o.Err == nil {
			o.Lost = fmt.Sprint(o.Result.Counts.Lost)
			if it.name == "connect" {
				o.Lost = "-"
			}
			switch {
			case it.relay:
				ratio := p1.Result.Throughput / o.Result.Throughput
				o.Measured = fmt.Sprintf("%.2f (broker %s / relay %s msg/s)", ratio, num(p1.Result.Throughput), num(o.Result.Throughput))
				o.Met = ratio >= 0.5
			default:
				o.Measured, o.Met = it.measure(o.Result)
			}
			if o.Result.Failed() {
				o.Met = false
			}
		}
		out = append(out, o)
		switch it.id {
		case "P1":
			p1 = &out[len(out)-1]
		case "P4":
			p4 = &out[len(out)-1]
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

// fromP4 reads P5 off the P4 run: opening 10,000 sessions is 10,000 hellos.
func fromP4(o *Outcome, p4 *Outcome) {
	switch {
	case p4 == nil:
		o.Err = fmt.Errorf("measured during P4, which did not run")
	case p4.Err != nil || p4.Result == nil || p4.Result.Hello == nil:
		o.Err = fmt.Errorf("P4 did not complete")
	default:
		h := p4.Result.Hello
		o.Result = p4.Result
		o.Measured = fmt.Sprintf("%s hellos/s (%s sessions in %.1f s, %d dialing at once; hello p99 %.0f ms)",
			num(h.Rate), num(float64(h.Sessions)), h.Seconds, p4.Result.Options.DialConcurrency, h.Latency.P99)
		o.Met = h.Rate >= 3000 && h.Dropped == 0
		o.Load = p4.Load
	}
}

func runItem(ctx context.Context, cfg Config, it item) (*scenario.Result, *Profile, error) {
	var t *target.Target
	var err error
	if it.relay {
		t, err = target.Relay(ctx, cfg.Progress)
	} else {
		spec := target.Spec{Spawn: true, BrokerBin: cfg.BrokerBin, Progress: cfg.Progress}
		if it.postgres {
			spec.DatabaseURL, spec.PGThrowaway = cfg.DatabaseURL, cfg.DatabaseURL == ""
		}
		t, err = target.Broker(ctx, spec, it.name, withDefaults(it))
	}
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	return runOn(ctx, cfg, it, t)
}

// runOn runs the item's scenario on t, with its profile when it takes one.
func runOn(ctx context.Context, cfg Config, it item, t *target.Target) (*scenario.Result, *Profile, error) {
	prof := profileDuringLoad(cfg, it, t)
	r, err := scenario.Run(ctx, it.name, t.Env, it.opts)
	p := prof.result(ctx)
	if err != nil {
		return nil, p, err
	}
	r.Broker = t.Settings
	return r, p, nil
}

func withDefaults(it item) scenario.Options {
	o := it.opts
	o.Defaults(it.name)
	return o
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "meshload bench: "+format+"\n", args...)
	}
}

// loadavg is the 1-minute load average, or -1 when unknown.
func loadavg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(strings.Fields(string(data))[0], &l); err != nil {
		return -1
	}
	return l
}
