package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
)

// writeProfiles writes, per profiled item, where the broker's time (or
// memory) went: how busy the broker and meshload were during the steady
// load, and pprof's top entries.
func writeProfiles(w io.Writer, outs []Outcome) {
	var some bool
	for _, o := range outs {
		some = some || o.Profile != nil
	}
	if !some {
		return
	}
	fmt.Fprintf(w, "\n## Where the broker's time goes\n\n"+
		"Profiles of the broker taken during each run's steady load (not during setup); "+
		"open one with `go tool pprof -http=: bin/claudemesh-broker bench/results/<file>` (see docs/benchmarks.md).\n")
	cores := runtime.NumCPU()
	for _, o := range outs {
		p := o.Profile
		if p == nil {
			continue
		}
		fmt.Fprintf(w, "\n### %s: %s profile\n\n", o.ID, p.Kind)
		if p.Err != nil {
			fmt.Fprintf(w, "Not captured: %s.\n", oneLine(p.Err.Error()))
			continue
		}
		fmt.Fprintf(w, "Saved as [%s](%s).", p.File, p.File)
		if p.ToolErr != nil {
			fmt.Fprintf(w, " `go tool pprof` could not summarize it: %s.\n", oneLine(p.ToolErr.Error()))
			continue
		}
		if p.Kind == "heap" {
			fmt.Fprintf(w, " In use while the sessions were held (after a GC): %s (Go heap only; RSS also counts "+
				"stacks, runtime and freed-but-unreturned memory).\n", orUnknown(p.InUse))
			writeRows(w, "top by in-use space", p.Flat)
			continue
		}
		fmt.Fprintf(w, " %s\n", busy(p, cores))
		writeRows(w, "top by cumulative time, this repository's functions", p.Cum)
		writeRows(w, "top by flat time (all functions)", p.Flat)
	}
}

// busy says how many of the machine's cores the broker and meshload took
// during the profile: a broker well under the cores with meshload taking
// the rest means the load generator, not the broker, set the figure.
func busy(p *Profile, cores int) string {
	if p.Wall <= 0 {
		return ""
	}
	s := fmt.Sprintf("Over %.0f s of steady load the broker used %.1f CPU s (%.2f cores of %d)",
		p.Wall, p.BrokerCPU, p.BrokerCPU/p.Wall, cores)
	if p.GenCPU >= 0 {
		s += fmt.Sprintf(" and meshload %.1f CPU s (%.2f cores)", p.GenCPU, p.GenCPU/p.Wall)
		if total := (p.BrokerCPU + p.GenCPU) / p.Wall; total >= 0.85*float64(cores) {
			s += fmt.Sprintf("; together %.2f of %d cores, so the machine was saturated and the two competed for it", total, cores)
		} else {
			s += fmt.Sprintf("; together %.2f of %d cores, so cores were left idle: a serial path (one goroutine, disk syncs, a lock) or round trips set the pace", total, cores)
		}
	}
	return s + "."
}

func writeRows(w io.Writer, title string, rows []string) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "\n%s: no entries.\n", title)
		return
	}
	fmt.Fprintf(w, "\n%s (flat, flat%%, sum%%, cum, cum%%, function):\n\n```\n%s\n```\n", title, strings.Join(rows, "\n"))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
