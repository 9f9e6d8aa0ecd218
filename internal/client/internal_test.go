package client

import (
	"testing"
	"time"
)

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	lo, hi := time.Second, 30*time.Second
	for attempt, want := range []time.Duration{1, 2, 4, 8, 16, 30, 30, 30} {
		want *= time.Second
		for range 200 {
			if d := backoff(lo, hi, attempt); d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := backoff(lo, hi, 1000); d > hi {
		t.Fatalf("huge attempt: %v", d)
	}
}

func TestWSURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7900":      "ws://127.0.0.1:7900/ws",
		"https://mesh.example/":      "wss://mesh.example/ws",
		"ws://h:1/ws":                "ws://h:1/ws",
		"wss://h/base":               "wss://h/base/ws",
		"http://h:1/ws?token=abc123": "ws://h:1/ws?token=abc123",
	} {
		if got, err := WebSocketURL(in); err != nil || got != want {
			t.Errorf("WebSocketURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:7900", "ftp://h"} {
		if _, err := WebSocketURL(bad); err == nil {
			t.Errorf("WebSocketURL(%q) accepted", bad)
		}
	}
}

func TestDedupForgetsOldestBeyondItsSize(t *testing.T) {
	d := newDedup(2)
	d.accept("a")
	d.accept("b")
	d.accept("a") // already known: must not take a second slot
	d.accept("c")
	if d.state("a") != unseen || d.state("b") != seenAccepted || d.state("c") != seenAccepted {
		t.Fatalf("states a=%v b=%v c=%v", d.state("a"), d.state("b"), d.state("c"))
	}
	d.markInFlight("x")
	if d.state("x") != seenInFlight {
		t.Fatal("in-flight id not remembered")
	}
	d.forget("x")
	if d.state("x") != unseen {
		t.Fatal("forgotten id still remembered")
	}
}
