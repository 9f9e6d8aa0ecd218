package main_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/transcript"
)

func TestBridgeInfersStatusFromTheTranscript(t *testing.T) {
	_, olivia, bob := twoUsers(t)
	const sid = "0b5a3f0e-8c1d-4e2f-9a7b-6c5d4e3f2a1b"
	cwd := t.TempDir()
	dir := transcript.ProjectDir(bob.home, cwd)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sid+".jsonl")
	appendLine := func(line string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	appendLine(`{"type":"user","sessionId":"` + sid + `","message":{"role":"user","content":"refactor the parser"},"timestamp":"2026-11-27T07:00:00Z"}`)
	bob.startBridge(t, cwd, "CLAUDEMESH_SESSION_ID="+sid)
	waitBridgePeer(t, olivia, "bob")

	status := func(want string) func() bool {
		return func() bool {
			p, _ := bridgePeer(t, olivia, "bob")
			return p.Status == want && p.StatusSource == "inferred"
		}
	}
	pollUntilFor(t, 20*time.Second, "bob inferred working", status("working"))
	appendLine(`{"type":"assistant","sessionId":"` + sid + `","message":{"role":"assistant","content":[{"type":"text","text":"done"}],"stop_reason":"end_turn"},"timestamp":"2026-11-27T07:00:09Z"}`)
	pollUntilFor(t, 20*time.Second, "bob inferred idle", status("idle"))
}
