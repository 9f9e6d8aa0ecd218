// Package report prints a run as a human table, as JSON, and the standard
// set as the markdown file under bench/results.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/verify"
)

// JSON writes r indented.
func JSON(w io.Writer, r *scenario.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Human writes r as an aligned table.
func Human(w io.Writer, r *scenario.Result) {
	o := r.Options
	fmt.Fprintf(w, "meshload %s against the %s (%s): %s\n", r.Scenario, r.Target, r.Backend, Settings(r))
	row := func(k, v string) { fmt.Fprintf(w, "  %-20s %s\n", k, v) }
	if r.Hello != nil {
		h := r.Hello
		row("sessions", fmt.Sprintf("%d in %d meshes, opened in %.2fs", h.Sessions, h.Meshes, h.Seconds))
		row("hello rate", fmt.Sprintf("%s hellos/s", Num(h.Rate)))
		row("still open", fmt.Sprintf("%d of %d after holding %s idle", h.Sessions-h.Dropped, h.Sessions, o.Hold))
		latencyTable(w, []string{"dial -> hello_ack"}, []verify.Summary{h.Latency})
	} else {
		c := r.Counts
		row("sent", Num(float64(r.Sent)))
		row("acked", fmt.Sprintf("%s   (%s msg/s)", Num(float64(c.Acked)), Num(r.Throughput)))
		row("delivered", fmt.Sprintf("%s of %s intended   (%s pushes/s)", Num(float64(c.Delivered)), Num(float64(c.Expected)), Num(r.DeliveryRate)))
		row("verification", fmt.Sprintf("lost %d, duplicates %d, misrouted %d, unacked deliveries %d, decrypt failures %d",
			c.Lost, c.Duplicates, c.Misrouted, c.Unacked, r.Decrypt))
		if r.Early > 0 {
			row("early", fmt.Sprintf("%d held messages delivered before the flip", r.Early))
		}
		if r.CountMismatch > 0 {
			row("ack recipients", fmt.Sprintf("%d acks named a recipient count other than the sessions expected", r.CountMismatch))
		}
		latencyTable(w, []string{"ack", "end-to-end"}, []verify.Summary{r.AckLatency, r.EndToEnd})
		row("end-to-end is", r.EndToEndLabel)
	}
	row("errors", Errors(r.Errors))
	if len(r.SystemEvents) > 0 {
		row("system pushes", Errors(r.SystemEvents)+" (not verified)")
	}
	if m := r.RSS; m != nil {
		s := fmt.Sprintf("before %.1f MiB, peak %.1f MiB, end %.1f MiB", m.BeforeMB, m.PeakMB, m.EndMB)
		if m.PerSessionKB > 0 {
			s += fmt.Sprintf(", %.1f KiB per session", m.PerSessionKB)
		}
		row("target RSS", s)
	}
	if b := r.Baseline; b != nil {
		row("relay baseline", fmt.Sprintf("%s msg/s (lost %d) -> ratio %.2f", Num(b.Throughput), b.Counts.Lost, r.Ratio))
	}
	if r.Failed() {
		row("verdict", "FAIL")
		for _, f := range r.Failures {
			fmt.Fprintf(w, "    - %s\n", f)
		}
	} else {
		row("verdict", "ok")
	}
}

func latencyTable(w io.Writer, labels []string, sums []verify.Summary) {
	fmt.Fprintf(w, "  %-20s %9s %9s %9s %9s %9s\n", "latency (ms)", "p50", "p95", "p99", "max", "samples")
	for i, s := range sums {
		if labels[i] == "" {
			continue
		}
		fmt.Fprintf(w, "  %-20s %9.2f %9.2f %9.2f %9.2f %9d\n", labels[i], s.P50, s.P95, s.P99, s.Max, s.Count)
	}
}

// Settings is a one-line summary of the options that shaped a run.
func Settings(r *scenario.Result) string {
	o := r.Options
	rate := "as fast as acks allow"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%d msg/s total", o.Rate)
	}
	switch r.Scenario {
	case "connect":
		return fmt.Sprintf("%d sessions in meshes of %d, %d dialing at once, hold %s", o.Sessions, o.MeshSize, o.DialConcurrency, o.Hold)
	case "held":
		return fmt.Sprintf("%d senders, %d recipients x %d held messages, flips %s apart", o.Senders, o.Recipients, o.Held, o.FlipGap)
	case "broadcast":
		return fmt.Sprintf("%d sessions, %d sender(s), %s, window %d, %s, %d-byte messages", o.Sessions, o.Senders, rate, o.Window, o.Duration, o.Size)
	}
	return fmt.Sprintf("%d sessions, %s, window %d, %s, %d-byte messages", o.Sessions, rate, o.Window, o.Duration, o.Size)
}

// Errors formats counts by code (or event), or "none".
func Errors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Num formats with thousands separators and at most one decimal.
func Num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	if f < 100 && f != float64(int64(f)) {
		s = fmt.Sprintf("%.1f", f)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
