package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// WebSocket close codes the broker uses.
const (
	statusGoingAway   = int(websocket.StatusGoingAway)       // 1001: shutdown
	statusPolicy      = int(websocket.StatusPolicyViolation) // 1008: hello refused
	statusTooBig      = int(websocket.StatusMessageTooBig)   // 1009
	statusSuperseded  = 4000
	statusRevoked     = 4001
	statusSlowConsume = 4002
)

// outFrame is one queued frame. pushID is set for message pushes so the
// writer can treat a successful write as the ack of an old client. Queues
// hold pointers and grow as they fill (writequeue.go), so an idle session
// stays small (quality.md P4).
type outFrame struct {
	data      []byte
	pushID    string
	createdAt time.Time // of the pushed message, for the delivery latency metric
	sendReply bool      // the ack or error of a send: writing it frees a send slot
}

// pushItem is a message offered to a session, live or from the backlog.
type pushItem struct {
	messageID string
	priority  string
	frame     []byte
	createdAt time.Time
	fromStore bool // loaded by a sync rather than offered live
}

// session is one authenticated connection. Fields above mu are fixed after
// the hello; fields below it are guarded by mu.
type session struct {
	b             *Broker
	ws            *websocket.Conn
	presenceID    string
	meshID        string
	member        store.Member
	sessionID     string
	sessionPubkey string
	routingAddr   string // session pubkey when proven, else member pubkey
	displayName   string
	hello         *protocol.ClientFrame
	clientAck     bool
	protocol      int
	ephemeral     bool
	connectedAt   time.Time
	limiter       *tokenBucket // used only by the reader goroutine
	// sendSlots holds one token per send whose reply is not yet written
	// (the writer takes it back); pendingSends counts sends still waiting
	// for their commit, which other frames wait for so that every response
	// follows the acks of the sends before it.
	sendSlots    chan struct{}
	pendingSends sync.WaitGroup

	out       *writeQueue
	done      chan struct{} // closed when the connection is finished
	closeOnce sync.Once
	slow      atomic.Bool   // the write queue overflowed; closing with 4002
	kick      chan struct{} // a pending wake of the syncer (capacity 1)
	syncer    atomic.Bool   // a runSyncer goroutine is running
	drained   chan struct{} // the writer made room in out (capacity 1)
	syncMu    sync.Mutex    // serializes backlog loads (syncer and fetch_pending)

	mu       sync.Mutex
	status   string    // effective status: idle | working | dnd
	source   string    // what set it: manual | inferred | hook | ttl
	statusAt time.Time // last signal that set the status (the TTL runs from here)
	hookAt   time.Time // last hook signal; inferred signals yield to it (status.go)
	summary  string
	groups   []protocol.Group
	syncing  bool // live offers are buffered (a sync is running or due)
	syncDue  bool // a sync was scheduled after the running one started
	buffered []pushItem
	inflight map[string]struct{} // pushed, not yet acked
	// acking holds messages the client acked whose delivered mark may not
	// be committed yet (the committer batches them): a sync in that window
	// still reads the row as pending and must not push it again. Entries
	// older than ackRecordGrace are ignored, so a mark that failed still
	// leads to a redelivery (at-least-once).
	acking map[string]time.Time
	// Messages the gate holds (gate.go): live ones in memory, so turning
	// idle releases them without a store read; heldInStore means some exist
	// only in the store and the release must sync.
	held        []pushItem
	heldBytes   int
	heldInStore bool
}

// ackRecordGrace bounds how long an acked message is kept from being pushed
// again while its delivered mark is committed (commits time out at 10 s).
const ackRecordGrace = 30 * time.Second

// noteAckingLocked remembers an acked message for ackRecordGrace; the map
// is pruned when it grows, so it holds about one grace period of acks.
func (s *session) noteAckingLocked(messageID string) {
	if s.acking == nil {
		s.acking = make(map[string]time.Time)
	}
	now := time.Now()
	if len(s.acking) >= 1024 {
		for id, at := range s.acking {
			if now.Sub(at) >= ackRecordGrace {
				delete(s.acking, id)
			}
		}
	}
	s.acking[messageID] = now
}

func (s *session) key() memberSession { return memberSession{s.member.ID, s.sessionID} }

// offer delivers a freshly committed message. While a backlog load runs, live
// messages wait behind it so each recipient sees send order.
func (s *session) offer(it pushItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncing {
		s.buffered = append(s.buffered, it)
		return
	}
	s.pushLocked(it, true)
}

// pushLocked queues a push unless it is already in flight or held by the
// gate. A held message stays pending in the store and is remembered for
// the release (holdLocked).
func (s *session) pushLocked(it pushItem, gate bool) bool {
	if _, dup := s.inflight[it.messageID]; dup {
		return false
	}
	if at, ok := s.acking[it.messageID]; ok {
		if time.Since(at) < ackRecordGrace {
			return false
		}
		delete(s.acking, it.messageID)
	}
	if gate && s.heldLocked(it.priority) {
		s.holdLocked(it)
		return false
	}
	s.inflight[it.messageID] = struct{}{}
	s.enqueue(&outFrame{data: it.frame, pushID: it.messageID, createdAt: it.createdAt})
	return true
}

// send queues a non-push frame.
func (s *session) send(data []byte) { s.enqueue(&outFrame{data: data}) }

// enqueue never blocks: a connection whose queue is full is too slow and is
// closed; everything undelivered stays pending in the store.
func (s *session) enqueue(f *outFrame) {
	select {
	case <-s.done:
		return
	default:
	}
	ok, startWriter := s.out.push(f)
	switch {
	case !ok:
		if s.slow.CompareAndSwap(false, true) { // count and close once
			s.b.metrics.slowConsumers.Inc()
			go s.close(statusSlowConsume, "write queue full")
		}
	case startWriter:
		go s.runWriter()
	}
}

// backlogPage bounds one store read of a session's backlog.
const backlogPage = 256

// sync loads the session's pending rows from the store and pushes them in
// order, then releases live messages that arrived meanwhile. ignoreGate is
// set by fetch_pending, which pulls held messages too. It returns how many
// pushes it queued. A backlog larger than the write queue is read in pages
// that wait for room, so a long absence never overflows the queue.
func (s *session) sync(ctx context.Context, ignoreGate bool) (int, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	s.syncing, s.syncDue = true, false
	s.mu.Unlock()

	pushed, err := s.pushBacklog(ctx, ignoreGate)
	if ignoreGate && err == nil {
		s.mu.Lock()
		s.dropHeldLocked() // every pending row was just pushed: nothing is held
		s.mu.Unlock()
	}
	s.flushBuffered(ctx)
	return pushed, err
}

func (s *session) pushBacklog(ctx context.Context, ignoreGate bool) (int, error) {
	now := s.b.now()
	if _, err := s.b.store.ClaimMemberQueue(ctx, s.meshID, s.member.ID, s.sessionID, now); err != nil {
		return 0, err
	}
	pushed := 0
	var after int64
	for {
		room := min(s.waitRoom(ctx), backlogPage)
		if room == 0 {
			return pushed, nil // the session ended; its rows stay pending
		}
		rows, err := s.b.store.PendingForSession(ctx, s.meshID, s.member.ID, s.sessionID, now, after, room)
		if err != nil {
			return pushed, err
		}
		if len(rows) > 0 {
			s.b.cluster.noteSeen(s.meshID, s.key(), rows[len(rows)-1].Seq)
		}
		s.mu.Lock()
		for i := range rows {
			if s.pushLocked(backlogItem(&rows[i]), !ignoreGate) {
				pushed++
			}
		}
		s.mu.Unlock()
		if len(rows) < room {
			return pushed, nil
		}
		after = rows[len(rows)-1].Seq
	}
}

// flushBuffered pushes the live messages that arrived during the sync, as
// room allows, and ends the sync when none are left. If another sync was
// scheduled meanwhile (syncDue: a release, a wake), buffering goes on and
// what is buffered is left to it: every buffered message is a pending row
// of this session, so that sync pushes it from the store behind any older
// row (a held backlog released by an idle flip must not be overtaken).
func (s *session) flushBuffered(ctx context.Context) {
	for {
		room := s.waitRoom(ctx)
		s.mu.Lock()
		if room == 0 || len(s.buffered) == 0 || s.syncDue {
			s.buffered = nil
			s.syncing = s.syncDue && room > 0
			s.mu.Unlock()
			return
		}
		n := min(room, len(s.buffered))
		for _, it := range s.buffered[:n] {
			s.pushLocked(it, true)
		}
		s.buffered = s.buffered[n:]
		s.mu.Unlock()
	}
}

// waitRoom blocks until the write queue is at most half full and returns how
// many frames a sync may add, keeping headroom for replies and events; 0
// when the session or ctx ended. Only syncs wait here, never the committer.
func (s *session) waitRoom(ctx context.Context) int {
	for {
		if used, size := s.out.len(), s.out.limit; used <= size/2 {
			return max(1, size-used-size/8)
		}
		select {
		case <-s.drained:
		case <-s.done:
			return 0
		case <-ctx.Done():
			return 0
		}
	}
}

// scheduleSyncLocked makes live offers wait from now on until a sync has
// pushed the store's older rows: without it a live message could overtake
// an older one that is about to be claimed. Caller holds s.mu.
func (s *session) scheduleSyncLocked() {
	if !s.ephemeral {
		s.syncing, s.syncDue = true, true
	}
}

// requestSync schedules a sync and wakes the syncer without blocking; one
// pending wake is enough. Ephemeral sessions are never delivery targets:
// they read their member's mail only by asking (fetch_pending). The caller
// must not hold s.mu.
func (s *session) requestSync() {
	if s.ephemeral {
		return
	}
	s.mu.Lock()
	s.scheduleSyncLocked()
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
		return // a wake is pending: its syncer is running or being started
	}
	if s.syncer.CompareAndSwap(false, true) {
		go s.runSyncer()
	}
}

// runSyncer runs syncs while wakes are pending, then exits: an idle session
// holds no syncer goroutine (quality.md P4), and the sync's deep store
// stack is freed with it. At most one runs per session: syncer is true
// while one does, and a wake that lands as it stops is taken either by it
// (the re-check) or by the waker's own start, never by both or neither.
func (s *session) runSyncer() {
	for {
		select {
		case <-s.done:
			s.syncer.Store(false)
			return
		default:
		}
		select {
		case <-s.kick:
			if _, err := s.sync(s.b.ctx, false); err != nil {
				s.b.log.Warn("loading pending messages failed; will retry on next wake", "session", s.presenceID, "err", err)
			}
		default:
			s.syncer.Store(false)
			if len(s.kick) == 0 || !s.syncer.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// acked records a delivery: on client_ack, or on a good write for old clients.
func (s *session) acked(messageID string) {
	s.mu.Lock()
	delete(s.inflight, messageID)
	s.noteAckingLocked(messageID)
	s.mu.Unlock()
	s.b.commits.markDelivered(store.DeliveryKey{MessageID: messageID, MemberID: s.member.ID, SessionID: s.sessionID})
}

// runWriter writes queued frames in order and exits once the queue is
// empty (writequeue.go: at most one runs per session).
func (s *session) runWriter() {
	for {
		f := s.out.pop()
		if f == nil {
			return
		}
		select {
		case <-s.done: // closed meanwhile (e.g. superseded): never write or ack after that
			return
		default:
		}
		if s.out.len() <= s.out.limit/2 {
			select {
			case s.drained <- struct{}{}:
			default:
			}
		}
		ctx, cancel := context.WithTimeout(s.b.ctx, s.b.opts.WriteTimeout)
		err := s.ws.Write(ctx, websocket.MessageText, f.data)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) { // a peer that stopped reading
				s.b.metrics.writeTimeouts.Inc()
			}
			s.abort()
			return
		}
		if f.sendReply {
			<-s.sendSlots
		}
		if f.pushID != "" {
			s.b.metrics.deliverySecs.Observe(time.Since(f.createdAt).Seconds())
			if !s.clientAck {
				s.acked(f.pushID)
			}
		}
	}
}

// close ends the connection once with a close frame; the reader's cleanup
// unregisters it. The handshake runs in the background (the library bounds
// it at 5 s) so a caller holding no lock is never stalled by a slow peer.
func (s *session) close(code int, reason string) {
	s.closeOnce.Do(func() {
		close(s.done)
		go s.ws.Close(websocket.StatusCode(code), reason)
	})
}

// abort drops a peer that is gone or too slow for a close handshake.
func (s *session) abort() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ws.CloseNow()
	})
}

func (s *session) snapshotGroups() []protocol.Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]protocol.Group(nil), s.groups...)
}

func backlogItem(d *store.Delivery) pushItem {
	return pushItem{messageID: d.MessageID, priority: d.Priority, frame: protocol.Encode(pushFrame(d)), createdAt: d.CreatedAt, fromStore: true}
}

func pushFrame(d *store.Delivery) protocol.Push {
	return protocol.Push{
		Type: protocol.TypePush, MessageID: d.MessageID, MeshID: d.MeshID,
		SenderPubkey: d.SenderPubkey, SenderMemberPubkey: d.SenderMemberPubkey, SenderName: d.SenderName,
		Priority: d.Priority, Nonce: d.Nonce, Ciphertext: d.Ciphertext, Enc: d.Enc,
		Kind: d.Kind, Group: d.Group, CreatedAt: isoTime(d.CreatedAt),
	}
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
