package broker

import "sync"

// writeQueue is a session's bounded FIFO of frames for its writer. Unlike a
// channel it allocates as it fills and lets go of its buffer once drained,
// and the writer goroutine runs only while frames wait: an idle session
// holds neither (quality.md P4). Any goroutine may push; only the writer
// pops. writing is true while a writer runs, or before start: frames queued
// during the hello wait until hello_ack is written. It changes only under
// mu together with the frames, so exactly one writer drains the queue.
type writeQueue struct {
	mu      sync.Mutex
	buf     []*outFrame // buf[head:] are queued
	head    int
	limit   int
	writing bool
}

// shrinkAbove is the buffer capacity a drained queue gives back; smaller
// ones are kept for the next frames.
const shrinkAbove = 16

func newWriteQueue(limit int) *writeQueue {
	return &writeQueue{limit: limit, writing: true}
}

// start ends the hold of a new queue; it reports whether frames wait, in
// which case the caller must run a writer.
func (q *writeQueue) start() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.writing = q.head < len(q.buf)
	return q.writing
}

// push queues f; ok is false when the queue is full. startWriter reports
// that no writer runs: the caller must start one.
func (q *writeQueue) push(f *outFrame) (ok, startWriter bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf)-q.head >= q.limit {
		return false, false
	}
	if q.head > 0 && len(q.buf) == cap(q.buf) { // reuse the popped prefix before growing
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, f)
	startWriter = !q.writing
	q.writing = true
	return true, startWriter
}

// pop takes the oldest frame for the writer. On nil the queue is empty and
// the writer must exit: the next push starts a new one.
func (q *writeQueue) pop() *outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.buf) {
		q.writing = false
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
