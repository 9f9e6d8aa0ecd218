package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/report"
)

func num(f float64) string { return report.Num(f) }

// Markdown writes the results file: the P1-P8 table, settings, machine,
// noisy-run notes and every run's full table.
func Markdown(w io.Writer, cfg Config, outs []Outcome, started time.Time, took time.Duration) {
	fmt.Fprintf(w, "# claudemesh benchmark, %s\n\n", started.UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "`make bench` (`meshload bench`) started %s UTC, took %s, commit `%s`.\n",
		started.UTC().Format("15:04:05"), took.Round(time.Second), gitCommit())
	if cfg.Quick {
		fmt.Fprintf(w, "\n**Quick run (`--quick`): scaled-down sizes; these figures are not comparable with the targets.**\n")
	}
	fmt.Fprintf(w, "\nTargets are from the quality spec (2 cores, load generator on the same machine, loopback). "+
		"\"lost\" counts acked deliveries that never arrived; it must be 0.\n\n")
	fmt.Fprintln(w, "| # | figure | measured | target | lost | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, o := range outs {
		verdict, measured := "met", o.Measured
		switch {
		case o.Err != nil:
			verdict, measured = "**not run**", "error: "+oneLine(o.Err.Error())
		case !o.Met:
			verdict = "**missed**"
		}
		if o.Result != nil && o.Result.Failed() && o.ID != "P5" {
			verdict = "**failed verification**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", o.ID, o.Figure, measured, o.Target, o.Lost, verdict)
	}
	writeSettings(w, outs)
	writeMachine(w)
	writeNotes(w, outs)
	writeProfiles(w, outs)
	fmt.Fprintf(w, "\n## Full output of each run\n")
	for _, o := range outs {
		if o.Result == nil || o.ID == "P5" {
			continue
		}
		var b bytes.Buffer
		report.Human(&b, o.Result)
		fmt.Fprintf(w, "\n### %s (%.0f s)\n\n```\n%s```\n", o.ID, o.Seconds, b.String())
	}
}

func writeSettings(w io.Writer, outs []Outcome) {
	fmt.Fprintf(w, "\n## Settings\n\n")
	fmt.Fprintln(w, "| # | scenario | target | settings | broker settings |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, o := range outs {
		r := o.Result
		if r == nil || o.ID == "P5" {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s (%s) | %s | %s |\n", o.ID, r.Scenario, r.Target, r.Backend, report.Settings(r), kv(r.Broker))
	}
	fmt.Fprintf(w, "\nEvery broker run is a fresh `claudemesh-broker serve` with its own temp data directory; "+
		"PostgreSQL runs use a fresh throwaway cluster (fsync on) unless DATABASE_URL was given. "+
		"Rate limits are raised so the figures measure the broker's work, not its throttles. "+
		"Members are created through the HTTP API (POST /meshes, a v2 invite, one claim each) and every "+
		"session says a signed protocol-2 hello declaring client_ack and secretbox.\n")
}

func writeMachine(w io.Writer) {
	fmt.Fprintf(w, "\n## Machine\n\n")
	fmt.Fprintf(w, "- CPU: %s, %d logical cores visible to Go\n", cpuModel(), runtime.NumCPU())
	fmt.Fprintf(w, "- memory: %s\n", memTotal())
	fmt.Fprintf(w, "- kernel: %s\n", firstLine("/proc/sys/kernel/osrelease"))
	fmt.Fprintf(w, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func writeNotes(w io.Writer, outs []Outcome) {
	fmt.Fprintf(w, "\n## Noisy-run notes\n\n")
	cores := float64(runtime.NumCPU())
	noisy := false
	for _, o := range outs {
		if o.ID == "P5" || o.Load[0] < 0 {
			continue
		}
		if o.Load[0] > cores || o.Load[1] > cores+2 {
			noisy = true
			fmt.Fprintf(w, "- %s: 1-minute load average %.1f before and %.1f after, on %d cores: "+
				"something else was using the CPU, so this figure is pessimistic.\n", o.ID, o.Load[0], o.Load[1], int(cores))
		}
		if r := o.Result; r != nil && len(r.Errors) > 0 {
			noisy = true
			fmt.Fprintf(w, "- %s: errors by code: %s.\n", o.ID, report.Errors(r.Errors))
		}
	}
	if !noisy {
		fmt.Fprintf(w, "- none: load average stayed at or below the core count and no run saw errors. "+
			"(The load generator itself shares the machine; that is part of the setup.)\n")
	}
}

func kv(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func gitCommit() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "unknown"
}

func firstLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
}
