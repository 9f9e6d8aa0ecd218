package transcript

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults for the Watcher's zero fields.
const (
	DefaultInterval = time.Second
	// DefaultRefresh re-reports "working" well inside the broker's
	// STATUS_TTL_SECONDS (60 s by default), which would otherwise turn it idle.
	DefaultRefresh = 20 * time.Second
	// DefaultStall: a transcript inferred working that has not been written
	// for this long is reported idle (Claude was probably interrupted or
	// killed without a final line). It matches the Bash tool's longest
	// timeout, so a single long tool call does not trip it.
	DefaultStall = 10 * time.Minute
)

// Watcher tails a Claude Code session's transcript and reports the status it
// implies. Set the fields, then call Run once; the fields must not change
// while Run runs. All state is owned by the goroutine running Run, so there
// are no locks.
type Watcher struct {
	// Dir is the project directory, normally ProjectDir(home, cwd). Its fully
	// sanitised sibling (SanitizedProjectDir) is searched too, so the watcher
	// works with Claude Code versions that name the directory either way.
	Dir string
	// SessionID, when set, selects <dir>/<SessionID>.jsonl whenever that file
	// exists; otherwise the most recently modified *.jsonl is followed.
	SessionID string
	// Interval is the poll period (0: DefaultInterval).
	Interval time.Duration
	// Refresh is how often "working" is reported again while it holds
	// (0: DefaultRefresh).
	Refresh time.Duration
	// Stall is how long a working transcript may stay unwritten before it
	// is reported idle (0: DefaultStall).
	Stall time.Duration
	// Report sends a status ("working" or "idle"). It is called on Run's
	// goroutine, so polling waits while it runs. An error makes the watcher
	// try again at the next poll.
	Report func(ctx context.Context, status string) error

	tail       tail
	want       string    // the status the transcript implies now ("" unknown)
	reported   string    // the status last reported successfully
	reportedAt time.Time // when it was
}

// Run polls until ctx ends and returns ctx.Err(). Unreadable, missing or
// malformed files are skipped quietly and looked at again on the next poll.
func (w *Watcher) Run(ctx context.Context) error {
	ticker := time.NewTicker(orDefault(w.Interval, DefaultInterval))
	defer ticker.Stop()
	for {
		w.poll(ctx, time.Now())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// poll reads what the transcript gained since the last poll, updates the
// inferred status and reports it if it changed or is due for a refresh.
func (w *Watcher) poll(ctx context.Context, now time.Time) {
	w.observe(now)
	if w.want == "" || w.Report == nil || ctx.Err() != nil {
		return
	}
	due := w.want != w.reported ||
		(w.want == StatusWorking && now.Sub(w.reportedAt) >= orDefault(w.Refresh, DefaultRefresh))
	if !due {
		return
	}
	if w.Report(ctx, w.want) == nil {
		w.reported, w.reportedAt = w.want, now
	}
}

// observe updates w.want from the transcript. Without a readable transcript
// the status is unknown: nothing is reported, so a stale "working" is left
// to the broker's TTL, and the tail is reset so the next successful read
// infers the state afresh from the file's end.
func (w *Watcher) observe(now time.Time) {
	path := w.pickFile()
	if path == "" {
		w.tail, w.want = tail{}, ""
		return
	}
	status, ok, fi, err := w.tail.read(path)
	if err != nil {
		w.tail, w.want = tail{}, ""
		return
	}
	if ok {
		w.want = status
	}
	if w.want == StatusWorking && now.Sub(fi.ModTime()) >= orDefault(w.Stall, DefaultStall) {
		w.want = StatusIdle
	}
}

// pickFile chooses the transcript to follow, afresh at every poll so that a
// new session file is picked up: the SessionID file if it exists in any
// candidate directory, else the most recently modified *.jsonl among them
// (ties broken by name, so the choice is stable). "" when there is none.
func (w *Watcher) pickFile() string {
	dirs := candidateDirs(w.Dir)
	if id := w.SessionID; id != "" && filepath.Base(id) == id && id != "." && id != ".." {
		for _, d := range dirs {
			p := filepath.Join(d, id+".jsonl")
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
	}
	var best string
	var bestTime time.Time
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".jsonl") || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			p := filepath.Join(d, e.Name())
			if t := fi.ModTime(); best == "" || t.After(bestTime) || (t.Equal(bestTime) && p > best) {
				best, bestTime = p, t
			}
		}
	}
	return best
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
