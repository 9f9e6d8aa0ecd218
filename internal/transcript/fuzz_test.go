package transcript

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzTail: however a transcript's bytes arrive over polls, the watcher
// ends with the status Infer gives for the complete lines, and never panics.
func FuzzTail(f *testing.F) {
	f.Add([]byte(jsonl(userPrompt("hi"), assistant(nil, toolUse()), toolResult(), endTurn())), uint64(1))
	f.Add([]byte(jsonl(endTurn(), userPrompt("again"))+`{"type":"assistant","mess`), uint64(2))
	f.Add([]byte("garbage\n\x00\xff{\n"+userPrompt("x")+"\r\n"+system("turn_duration")), uint64(3))
	f.Add([]byte(jsonl(userBlocks(text("[Request interrupted by user]")), `{"type":"user","message":{"content":[{"type":"text","text":1}]}}`)), uint64(4))
	f.Fuzz(func(t *testing.T, content []byte, seed uint64) {
		if len(content) > startWindow {
			return // the first poll would rightly read only the end
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "s.jsonl")
		file, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		w := &Watcher{Dir: dir, Stall: noStall}
		rng := rand.New(rand.NewPCG(seed, seed>>1))
		for rest := content; ; {
			n := 0
			if len(rest) > 0 {
				n = rng.IntN(len(rest) + 1)
			}
			if _, err := file.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			w.poll(context.Background(), time.Now())
			if len(rest) == 0 {
				break
			}
		}
		complete := bytes.Split(content, []byte("\n"))
		complete = complete[:len(complete)-1] // the last piece has no newline yet
		want, _ := Infer(complete)
		if w.want != want {
			t.Fatalf("watcher inferred %q, Infer over the complete lines %q", w.want, want)
		}
	})
}
