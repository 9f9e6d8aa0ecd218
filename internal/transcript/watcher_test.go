package transcript

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder collects reports; failFirst makes the first n calls fail.
type recorder struct {
	mu        sync.Mutex
	calls     int
	failFirst int
	failAll   bool
	got       []string // successful reports, in order
}

func (r *recorder) report(_ context.Context, status string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failAll || r.calls <= r.failFirst {
		return errors.New("broker unreachable")
	}
	r.got = append(r.got, status)
	return nil
}

func (r *recorder) reports() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// projectDir makes the spec's project directory for a fake cwd under a
// temp home.
func projectDir(t *testing.T) string {
	t.Helper()
	dir := ProjectDir(t.TempDir(), "/home/dana/app")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// setMtime moves a file's modification time by d from now, so that "newer"
// does not depend on the file system's timestamp granularity.
func setMtime(t *testing.T, path string, d time.Duration) {
	t.Helper()
	at := time.Now().Add(d)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// runWatcher starts w.Run and stops it (checking it returns ctx.Err()) at
// cleanup.
func runWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// A long Stall keeps the stall rule out of tests that do not test it.
const noStall = 24 * time.Hour

func TestWatcherReportsWorkingThenIdle(t *testing.T) {
	dir := projectDir(t)
	rec := &recorder{}
	runWatcher(t, &Watcher{Dir: dir, Interval: 10 * time.Millisecond, Stall: noStall, Report: rec.report})

	path := filepath.Join(dir, "0b7e9f5a-1111-4222-8333-444455556666.jsonl")
	appendFile(t, path, jsonl(`{"type":"file-history-snapshot","messageId":"m1"}`, userPrompt("fix the tests")))
	waitFor(t, "working", func() bool { return slices.Equal(rec.reports(), []string{"working"}) })
	appendFile(t, path, jsonl(assistant(nil, toolUse()), toolResult(), endTurn(), system("turn_duration")))
	waitFor(t, "idle", func() bool { return slices.Equal(rec.reports(), []string{"working", "idle"}) })
}

func TestWatcherFileChoice(t *testing.T) {
	const session = "0b7e9f5a-1111-4222-8333-444455556666"
	tests := []struct {
		name      string
		sessionID string
		want      string
	}{
		{"session file wins over a newer file", session, "idle"},
		{"no session id: newest file", "", "working"},
		{"session file missing: newest file", "ffffffff-0000-4000-8000-000000000000", "working"},
		{"session id with a path is not used", "../" + session, "working"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := projectDir(t)
			sessionFile := filepath.Join(dir, session+".jsonl")
			writeFile(t, sessionFile, jsonl(userPrompt("hi"), endTurn()))
			setMtime(t, sessionFile, -time.Minute)
			other := filepath.Join(dir, "11111111-2222-4333-8444-555555555555.jsonl")
			writeFile(t, other, jsonl(userPrompt("other session")))
			// Neither a directory nor a non-jsonl file may be chosen.
			if err := os.Mkdir(filepath.Join(dir, "zzz.jsonl"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "notes.txt"), endTurn()+"\n")

			rec := &recorder{}
			w := &Watcher{Dir: dir, SessionID: tc.sessionID, Stall: noStall, Report: rec.report}
			w.poll(context.Background(), time.Now())
			if got := rec.reports(); !slices.Equal(got, []string{tc.want}) {
				t.Fatalf("reports = %q, want [%s]", got, tc.want)
			}
		})
	}
}

func TestWatcherSwitchesToNewerFile(t *testing.T) {
	dir := projectDir(t)
	rec := &recorder{}
	runWatcher(t, &Watcher{Dir: dir, Interval: 10 * time.Millisecond, Stall: noStall, Report: rec.report})

	first := filepath.Join(dir, "a.jsonl")
	writeFile(t, first, jsonl(userPrompt("hi")))
	setMtime(t, first, -time.Minute)
	waitFor(t, "working from the first file", func() bool { return slices.Equal(rec.reports(), []string{"working"}) })

	second := filepath.Join(dir, "b.jsonl") // e.g. after /clear
	writeFile(t, second, jsonl(userPrompt("again"), endTurn()))
	waitFor(t, "idle from the newer file", func() bool { return slices.Equal(rec.reports(), []string{"working", "idle"}) })

	// The first file is no longer followed: what it gains is not reported.
	appendFile(t, first, jsonl(userPrompt("late line")))
	setMtime(t, first, -time.Minute)
	appendFile(t, second, jsonl(userPrompt("next prompt")))
	waitFor(t, "working from the newer file", func() bool {
		return slices.Equal(rec.reports(), []string{"working", "idle", "working"})
	})
}

func TestWatcherFindsOtherDirectoryNames(t *testing.T) {
	long := "/srv/" + strings.Repeat("deep_dir/", 30) + "app" // > 200 characters once sanitised
	tests := []struct {
		name    string
		cwd     string
		makeDir func(home, cwd string) string
	}{
		{"fully sanitised", "/home/anant_gupta/my.proj", SanitizedProjectDir},
		{"truncated with hash", long, func(home, cwd string) string {
			return SanitizedProjectDir(home, cwd)[:len(filepath.Join(home, ".claude", "projects"))+1+maxDirName] + "-1k3z9x"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			dir := tc.makeDir(home, tc.cwd)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "s.jsonl"), jsonl(userPrompt("hi"), endTurn()))
			rec := &recorder{}
			w := &Watcher{Dir: ProjectDir(home, tc.cwd), Stall: noStall, Report: rec.report}
			w.poll(context.Background(), time.Now())
			if got := rec.reports(); !slices.Equal(got, []string{"idle"}) {
				t.Fatalf("reports = %q, want [idle] from %s", got, dir)
			}
		})
	}
}

func TestWatcherPartialLine(t *testing.T) {
	dir := projectDir(t)
	path := filepath.Join(dir, "s.jsonl")
	writeFile(t, path, jsonl(userPrompt("hi")))
	rec := &recorder{}
	w := &Watcher{Dir: dir, Stall: noStall, Report: rec.report}
	ctx := context.Background()
	w.poll(ctx, time.Now())

	line := endTurn()
	half := len(line) / 2
	appendFile(t, path, line[:half])
	w.poll(ctx, time.Now())
	w.poll(ctx, time.Now())
	if got := rec.reports(); !slices.Equal(got, []string{"working"}) {
		t.Fatalf("after half a line: reports = %q, want [working]", got)
	}
	appendFile(t, path, line[half:]+"\n")
	w.poll(ctx, time.Now())
	if got := rec.reports(); !slices.Equal(got, []string{"working", "idle"}) {
		t.Fatalf("after the rest: reports = %q, want [working idle]", got)
	}
}

func TestWatcherTruncationAndReplacement(t *testing.T) {
	tests := []struct {
		name    string
		rewrite func(t *testing.T, path string)
	}{
		{"truncated in place", func(t *testing.T, path string) {
			writeFile(t, path, jsonl(endTurn())) // shorter than before
		}},
		{"replaced by rename", func(t *testing.T, path string) {
			// One line, longer than the old file: read from the old offset
			// it would be a meaningless fragment.
			tmp := path + ".tmp"
			writeFile(t, tmp, jsonl(assistant("end_turn", text(strings.Repeat("done ", 2000)))))
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := projectDir(t)
			path := filepath.Join(dir, "s.jsonl")
			writeFile(t, path, jsonl(userPrompt("hi"), assistant("tool_use", toolUse()), toolResult()))
			rec := &recorder{}
			w := &Watcher{Dir: dir, Stall: noStall, Report: rec.report}
			ctx := context.Background()
			w.poll(ctx, time.Now())
			tc.rewrite(t, path)
			w.poll(ctx, time.Now())
			if got := rec.reports(); !slices.Equal(got, []string{"working", "idle"}) {
				t.Fatalf("reports = %q, want [working idle]", got)
			}
			appendFile(t, path, jsonl(userPrompt("more")))
			w.poll(ctx, time.Now())
			if got := rec.reports(); !slices.Equal(got, []string{"working", "idle", "working"}) {
				t.Fatalf("after appending: reports = %q, want [working idle working]", got)
			}
		})
	}
}

func TestWatcherStartReadsTail(t *testing.T) {
	big := strings.Repeat("x", 300<<10)                                         // a 300 KiB tool result: beyond startWindow
	huge := strings.Repeat("y", 3<<19)                                          // 1.5 MiB: beyond maxLine
	history := strings.Repeat(jsonl(userPrompt("old prompt"), endTurn()), 2000) // ~2 MiB of old turns
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"long history, last turn ended", history + jsonl(userPrompt("now"), endTurn()), []string{"idle"}},
		{"long history, working now", history + jsonl(userPrompt("now")), []string{"working"}},
		{"last line bigger than the start window", jsonl(endTurn(), userBlocks(map[string]any{"type": "tool_result", "tool_use_id": "t", "content": big})), []string{"working"}},
		{"last line over the cap is skipped", jsonl(userPrompt("hi"), assistant("end_turn", text(huge))), []string{"working"}},
		{"nothing but an over-long line", jsonl(assistant("end_turn", text(huge+huge))), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := projectDir(t)
			path := filepath.Join(dir, "s.jsonl")
			writeFile(t, path, tc.content)
			rec := &recorder{}
			w := &Watcher{Dir: dir, Stall: noStall, Report: rec.report}
			w.poll(context.Background(), time.Now())
			if got := rec.reports(); !slices.Equal(got, tc.want) {
				t.Fatalf("reports = %q, want %q", got, tc.want)
			}
			if w.tail.offset != int64(len(tc.content)) {
				t.Fatalf("offset = %d, want %d", w.tail.offset, len(tc.content))
			}
		})
	}
}

func TestWatcherOverlongLineWhileFollowing(t *testing.T) {
	dir := projectDir(t)
	path := filepath.Join(dir, "s.jsonl")
	writeFile(t, path, jsonl(userPrompt("hi")))
	rec := &recorder{}
	w := &Watcher{Dir: dir, Stall: noStall, Report: rec.report}
	ctx := context.Background()
	w.poll(ctx, time.Now())

	// An end_turn line of 1.5 MiB arriving over two polls: skipped, and
	// never held in memory beyond the cap.
	line := assistant("end_turn", text(strings.Repeat("z", 3<<19)))
	appendFile(t, path, line[:len(line)/2])
	w.poll(ctx, time.Now())
	appendFile(t, path, line[len(line)/2:])
	w.poll(ctx, time.Now())
	if len(w.tail.partial) > maxLine {
		t.Fatalf("partial line holds %d bytes, cap is %d", len(w.tail.partial), maxLine)
	}
	appendFile(t, path, "\n")
	w.poll(ctx, time.Now())
	if got := rec.reports(); !slices.Equal(got, []string{"working"}) {
		t.Fatalf("after the over-long line: reports = %q, want [working]", got)
	}
	appendFile(t, path, jsonl(endTurn()))
	w.poll(ctx, time.Now())
	if got := rec.reports(); !slices.Equal(got, []string{"working", "idle"}) {
		t.Fatalf("after a normal line: reports = %q, want [working idle]", got)
	}

	// The end of an over-long line is dropped even when it looks like a
	// line of its own.
	appendFile(t, path, jsonl(userPrompt("again")))
	w.poll(ctx, time.Now())
	appendFile(t, path, strings.Repeat("x", maxLine+1))
	w.poll(ctx, time.Now())
	appendFile(t, path, jsonl(endTurn()))
	w.poll(ctx, time.Now())
	if got := rec.reports(); !slices.Equal(got, []string{"working", "idle", "working"}) {
		t.Fatalf("after the tail of an over-long line: reports = %q, want [working idle working]", got)
	}
}

func TestWatcherRefresh(t *testing.T) {
	t.Run("clock", func(t *testing.T) {
		dir := projectDir(t)
		path := filepath.Join(dir, "s.jsonl")
		writeFile(t, path, jsonl(userPrompt("hi")))
		rec := &recorder{}
		w := &Watcher{Dir: dir, Refresh: 20 * time.Second, Stall: noStall, Report: rec.report}
		ctx := context.Background()
		t0 := time.Now()
		steps := []struct {
			at   time.Duration
			want int // reports so far
		}{
			{0, 1}, {time.Second, 1}, {19 * time.Second, 1}, {20 * time.Second, 2}, {21 * time.Second, 2}, {40 * time.Second, 3},
		}
		for _, s := range steps {
			w.poll(ctx, t0.Add(s.at))
			if n := len(rec.reports()); n != s.want {
				t.Fatalf("at +%v: %d reports, want %d", s.at, n, s.want)
			}
		}
		// idle is reported once, never refreshed.
		appendFile(t, path, jsonl(endTurn()))
		for _, at := range []time.Duration{41 * time.Second, 90 * time.Second, 10 * time.Minute} {
			w.poll(ctx, t0.Add(at))
		}
		if got := rec.reports(); !slices.Equal(got, []string{"working", "working", "working", "idle"}) {
			t.Fatalf("reports = %q", got)
		}
	})
	t.Run("running", func(t *testing.T) {
		dir := projectDir(t)
		writeFile(t, filepath.Join(dir, "s.jsonl"), jsonl(userPrompt("hi")))
		rec := &recorder{}
		runWatcher(t, &Watcher{Dir: dir, Interval: 10 * time.Millisecond, Refresh: 50 * time.Millisecond, Stall: noStall, Report: rec.report})
		waitFor(t, "three working reports", func() bool { return len(rec.reports()) >= 3 })
		for _, s := range rec.reports() {
			if s != "working" {
				t.Fatalf("reports = %q, want only working", rec.reports())
			}
		}
	})
}

func TestWatcherReportErrorRetried(t *testing.T) {
	t.Run("next poll retries", func(t *testing.T) {
		dir := projectDir(t)
		writeFile(t, filepath.Join(dir, "s.jsonl"), jsonl(userPrompt("hi"), endTurn()))
		rec := &recorder{failFirst: 2}
		w := &Watcher{Dir: dir, Stall: noStall, Report: rec.report}
		for range 5 {
			w.poll(context.Background(), time.Now())
		}
		if calls, got := rec.callCount(), rec.reports(); calls != 3 || !slices.Equal(got, []string{"idle"}) {
			t.Fatalf("calls = %d, reports = %q; want 3 calls (2 failed) and [idle]", calls, got)
		}
	})
	t.Run("no spinning", func(t *testing.T) {
		dir := projectDir(t)
		writeFile(t, filepath.Join(dir, "s.jsonl"), jsonl(userPrompt("hi")))
		rec := &recorder{failAll: true}
		const interval = 20 * time.Millisecond
		start := time.Now()
		runWatcher(t, &Watcher{Dir: dir, Interval: interval, Stall: noStall, Report: rec.report})
		waitFor(t, "five attempts", func() bool { return rec.callCount() >= 5 })
		elapsed := time.Since(start)
		// One attempt at start and at most one per tick after it.
		if calls, most := rec.callCount(), int(elapsed/interval)+2; calls > most {
			t.Fatalf("%d attempts in %v, at most %d expected with a %v interval", calls, elapsed, most, interval)
		}
	})
}

func TestWatcherStall(t *testing.T) {
	dir := projectDir(t)
	path := filepath.Join(dir, "s.jsonl")
	writeFile(t, path, jsonl(userPrompt("hi"), assistant(nil, toolUse())))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	w := &Watcher{Dir: dir, Report: rec.report} // DefaultStall
	ctx := context.Background()
	w.poll(ctx, fi.ModTime().Add(DefaultStall-time.Second))
	w.poll(ctx, fi.ModTime().Add(DefaultStall))
	if got := rec.reports(); !slices.Equal(got, []string{"working", "idle"}) {
		t.Fatalf("reports = %q, want [working idle]", got)
	}
	// The transcript moves again: working again.
	appendFile(t, path, jsonl(toolResult()))
	w.poll(ctx, time.Now())
	if got := rec.reports(); !slices.Equal(got, []string{"working", "idle", "working"}) {
		t.Fatalf("reports = %q, want [working idle working]", got)
	}
}

func TestWatcherNothingToWatch(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		dir  string
		prep func(t *testing.T, dir string)
	}{
		{"empty Dir", "", nil},
		{"missing directory", filepath.Join(home, "nope"), nil},
		{"no jsonl files", filepath.Join(home, "empty"), func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"only ignored lines", filepath.Join(home, "meta"), func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "s.jsonl"), jsonl(`{"type":"summary","summary":"x"}`, "garbage", "\x00\xff"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep(t, tc.dir)
			}
			rec := &recorder{}
			w := &Watcher{Dir: tc.dir, Report: rec.report}
			w.poll(context.Background(), time.Now())
			if calls := rec.callCount(); calls != 0 {
				t.Fatalf("Report called %d times, want 0", calls)
			}
		})
	}
}

func TestWatcherTranscriptGone(t *testing.T) {
	dir := projectDir(t)
	path := filepath.Join(dir, "s.jsonl")
	writeFile(t, path, jsonl(userPrompt("hi")))
	rec := &recorder{}
	w := &Watcher{Dir: dir, Refresh: time.Second, Stall: noStall, Report: rec.report}
	ctx := context.Background()
	t0 := time.Now()
	w.poll(ctx, t0)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// No transcript: "working" is no longer refreshed (the broker's TTL
	// will expire it).
	w.poll(ctx, t0.Add(5*time.Second))
	if got := rec.reports(); !slices.Equal(got, []string{"working"}) {
		t.Fatalf("reports = %q, want [working]", got)
	}
	writeFile(t, path, jsonl(userPrompt("back")))
	w.poll(ctx, t0.Add(6*time.Second))
	if got := rec.reports(); !slices.Equal(got, []string{"working", "working"}) {
		t.Fatalf("reports = %q, want [working working]", got)
	}
}
