// Package audit writes the metadata-only, hash-chained audit log
// (invites.md §7) and verifies it.
package audit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Recorder is the broker's Auditor: Record never blocks; one goroutine
// writes queued events in batches, one store transaction per batch, and
// the store chains each mesh's rows in queue order.
type Recorder struct {
	st      store.Store
	log     *slog.Logger
	queue   chan store.AuditEntry
	maxRows int
	dropped atomic.Int64
	closeMu sync.RWMutex // Record holds it shared; Close exclusively
	closed  bool
	done    chan struct{}
}

// QueueSize bounds memory when the store cannot keep up; past it events
// are dropped (and counted) rather than slowing message routing.
const QueueSize = 16384

// NewRecorder starts the writer goroutine; Close stops it.
func NewRecorder(st store.Store, log *slog.Logger) *Recorder {
	r := &Recorder{st: st, log: log, queue: make(chan store.AuditEntry, QueueSize), maxRows: 512, done: make(chan struct{})}
	go r.run()
	return r
}

// Record queues an event without blocking.
func (r *Recorder) Record(e broker.AuditEvent) {
	r.Append(store.AuditEntry{MeshID: e.MeshID, At: e.At, Event: e.Event, Actor: e.Actor, Details: e.Details})
}

// Append queues a store entry without blocking.
func (r *Recorder) Append(e store.AuditEntry) {
	if e.MeshID == "" {
		return // nothing to chain it to (e.g. a hello too broken to name a mesh)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return
	}
	select {
	case r.queue <- e:
	default:
		if r.dropped.Add(1)%1000 == 1 {
			r.log.Warn("audit queue full: dropping audit events", "dropped_total", r.dropped.Load())
		}
	}
}

// Dropped counts events lost to a full queue.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]store.AuditEntry, 0, r.maxRows)
	for e := range r.queue {
		batch = append(batch[:0], e)
		// Take whatever else is already queued, without waiting for more.
	fill:
		for len(batch) < r.maxRows {
			select {
			case e, ok := <-r.queue:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		r.write(batch)
	}
}

// write retries a failed batch a few times (the store may be restarting),
// then drops it with a log line: the log is metadata, routing goes on.
func (r *Recorder) write(batch []store.AuditEntry) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.st.AppendAudit(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if attempt == 3 {
			r.dropped.Add(int64(len(batch)))
			r.log.Error("audit batch not written; events dropped", "events", len(batch), "err", err)
			return
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
}

// Close stops accepting events and waits until queued ones are written or
// ctx ends.
func (r *Recorder) Close(ctx context.Context) error {
	r.closeMu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.closeMu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
