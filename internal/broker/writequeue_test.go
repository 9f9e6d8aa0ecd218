package broker

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestWriteQueueOrderLimitAndRelease(t *testing.T) {
	q := newWriteQueue(40)
	frame := func(i int) *outFrame { return &outFrame{pushID: strconv.Itoa(i)} }
	push := func(i int) bool {
		ok, _ := q.push(frame(i))
		return ok
	}
	next, popped := 0, 0
	// Interleave pushes and pops so the buffer reuses its popped prefix.
	for round := range 5 {
		for range 30 {
			if !push(next) {
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
			push(next)
			next++
		}
		if push(next) {
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

// A new queue holds its frames (they wait behind hello_ack) until start;
// after that, a push to a queue without a writer asks for one.
func TestWriteQueueStartsWritersOnlyWhenNeeded(t *testing.T) {
	q := newWriteQueue(8)
	if _, start := q.push(&outFrame{}); start {
		t.Fatal("a push before start asked for a writer")
	}
	if !q.start() {
		t.Fatal("start with a queued frame did not ask for a writer")
	}
	if _, start := q.push(&outFrame{}); start {
		t.Fatal("a push while a writer runs asked for another")
	}
	q.pop()
	q.pop()
	if q.pop() != nil {
		t.Fatal("pop of an empty queue returned a frame")
	}
	if _, start := q.push(&outFrame{}); !start {
		t.Fatal("a push after the writer exited did not ask for one")
	}
	empty := newWriteQueue(8)
	if empty.start() {
		t.Fatal("start of an empty queue asked for a writer")
	}
	if _, start := empty.push(&outFrame{}); !start {
		t.Fatal("the first push after start did not ask for a writer")
	}
}

// Many goroutines push and start writers as told: never two writers at
// once, every frame written once, each pusher's frames in order.
func TestWriteQueueConcurrentPushersOneWriter(t *testing.T) {
	const pushers, each = 8, 2000
	q := newWriteQueue(pushers * each)
	q.start()
	var (
		active  atomic.Int32
		written atomic.Int64
		mu      sync.Mutex
		last    = make([]int, pushers)
		writers sync.WaitGroup
	)
	for i := range last {
		last[i] = -1
	}
	writer := func() {
		defer writers.Done()
		// An exiting writer touches nothing after its empty pop, so the
		// check spans each frame's handling.
		for f := q.pop(); f != nil; f = q.pop() {
			if active.Add(1) != 1 {
				t.Error("two writers ran at once")
			}
			p, _ := strconv.Atoi(f.pushID)
			seq, _ := strconv.Atoi(string(f.data))
			mu.Lock()
			if seq != last[p]+1 {
				t.Errorf("pusher %d: frame %d after %d", p, seq, last[p])
			}
			last[p] = seq
			mu.Unlock()
			written.Add(1)
			active.Add(-1)
		}
	}
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ok, start := q.push(&outFrame{pushID: strconv.Itoa(p), data: []byte(strconv.Itoa(i))})
				if !ok {
					t.Error("push refused below the limit")
				}
				if start {
					writers.Add(1)
					go writer()
				}
			}
		}()
	}
	wg.Wait()
	writers.Wait()
	if got := written.Load(); got != pushers*each {
		t.Fatalf("wrote %d of %d frames", got, pushers*each)
	}
}
