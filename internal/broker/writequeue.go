package broker

import "sync"

// writeQueue is a session's bounded FIFO of frames for its writer. Unlike a
// channel it allocates as it fills and lets go of its buffer once drained:
// an idle session holds a few words instead of WriteQueueSize slots
// (quality.md P4). Any goroutine may push; only the writer pops.
type writeQueue struct {
	mu    sync.Mutex
	buf   []*outFrame // buf[head:] are queued
	head  int
	limit int
	ready chan struct{} // capacity 1: a pop may find a frame
}

// shrinkAbove is the buffer capacity a drained queue gives back; smaller
// ones are kept for the next frames.
const shrinkAbove = 16

func newWriteQueue(limit int) *writeQueue {
	return &writeQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// push queues f and reports false when the queue is full.
func (q *writeQueue) push(f *outFrame) bool {
	q.mu.Lock()
	if len(q.buf)-q.head >= q.limit {
		q.mu.Unlock()
		return false
	}
	if q.head > 0 && len(q.buf) == cap(q.buf) { // reuse the popped prefix before growing
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest frame, or returns nil when the queue is empty.
func (q *writeQueue) pop() *outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.buf) {
		return nil
	}
	f := q.buf[q.head]
	q.buf[q.head] = nil
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
		if cap(q.buf) > shrinkAbove {
			q.buf = nil
		} else {
			q.buf = q.buf[:0]
		}
	}
	return f
}

// len is how many frames are queued.
func (q *writeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf) - q.head
}
