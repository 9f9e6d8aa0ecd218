package broker

import (
	"strconv"
	"sync"
	"testing"
)

func TestWriteQueueOrderLimitAndRelease(t *testing.T) {
	q := newWriteQueue(40)
	frame := func(i int) *outFrame { return &outFrame{pushID: strconv.Itoa(i)} }
	next := 0
	popped := 0
	// Interleave pushes and pops so the buffer reuses its popped prefix.
	for round := range 5 {
		for range 30 {
			if !q.push(frame(next)) {
				t.Fatalf("round %d: push %d refused below the limit", round, next)
			}
			next++
		}
		for range 20 {
			f := q.pop()
			if f == nil || f.pushID != strconv.Itoa(popped) {
				t.Fatalf("round %d: popped %v, want %d", round, f, popped)
			}
			popped++
		}
		if got := q.len(); got != next-popped {
			t.Fatalf("len %d, want %d", got, next-popped)
		}
		for q.len() < 40 {
			q.push(frame(next))
			next++
		}
		if q.push(frame(next)) {
			t.Fatal("push accepted past the limit")
		}
		for q.len() > 10 {
			if f := q.pop(); f.pushID != strconv.Itoa(popped) {
				t.Fatalf("popped %s, want %d", f.pushID, popped)
			}
			popped++
		}
	}
	for f := q.pop(); f != nil; f = q.pop() {
		if f.pushID != strconv.Itoa(popped) {
			t.Fatalf("popped %s, want %d", f.pushID, popped)
		}
		popped++
	}
	if popped != next {
		t.Fatalf("popped %d of %d", popped, next)
	}
	if q.buf != nil {
		t.Fatalf("a drained queue keeps a buffer of %d slots", cap(q.buf))
	}
}

// One writer pops while many goroutines push: every frame arrives once and
// each pusher's frames keep their order.
func TestWriteQueueConcurrentPushers(t *testing.T) {
	const pushers, each = 8, 500
	q := newWriteQueue(pushers * each)
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if !q.push(&outFrame{pushID: strconv.Itoa(p), data: []byte(strconv.Itoa(i))}) {
					t.Error("push refused below the limit")
				}
			}
		}()
	}
	last := make([]int, pushers)
	for i := range last {
		last[i] = -1
	}
	for got := 0; got < pushers*each; {
		f := q.pop()
		if f == nil {
			<-q.ready
			continue
		}
		p, _ := strconv.Atoi(f.pushID)
		seq, _ := strconv.Atoi(string(f.data))
		if seq != last[p]+1 {
			t.Fatalf("pusher %d: frame %d after %d", p, seq, last[p])
		}
		last[p] = seq
		got++
	}
	wg.Wait()
}
