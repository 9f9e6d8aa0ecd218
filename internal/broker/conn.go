package broker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// errTooLarge marks a frame over MAX_MESSAGE_BYTES that was read and dropped.
var errTooLarge = errors.New("frame over the size cap")

func (b *Broker) serveWS(w http.ResponseWriter, r *http.Request) {
	if !b.admitConn() {
		http.Error(w, "broker is shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		b.conns.Done()
		return // Accept already wrote the HTTP error
	}
	// Frames up to this hard limit are read and dropped with too_large; past
	// it the library closes with 1009 so a hostile peer cannot stream forever.
	ws.SetReadLimit(int64(max(16*b.cfg.MaxMessageBytes, 1<<20)))
	ctx, cancel := context.WithCancel(b.ctx)
	s, err := b.authenticate(ctx, ws, r.RemoteAddr)
	if err != nil {
		cancel()
		ws.CloseNow()
		b.conns.Done()
		return
	}
	// The session goes on in a goroutine of its own and the handler returns:
	// net/http then frees the request, its buffers and the stack the hello
	// grew (quality.md P4). The hijacked socket belongs to ws.
	go func() {
		defer b.conns.Done()
		defer cancel()
		b.runSession(ctx, s)
	}()
}

// admitConn counts a new connection unless the broker is draining.
func (b *Broker) admitConn() bool {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.draining.Load() {
		return false
	}
	b.conns.Add(1)
	return true
}

// readFrame reads one text frame, enforcing the size cap without closing.
func (b *Broker) readFrame(ctx context.Context, ws *websocket.Conn) ([]byte, error) {
	typ, r, err := ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	limit := int64(b.cfg.MaxMessageBytes)
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, err
		}
		return nil, errTooLarge
	}
	if typ != websocket.MessageText {
		return nil, protocol.Errorf(protocol.CodeMalformed, "binary frames are not supported; send JSON text frames")
	}
	return data, nil
}

// runSession serves an authenticated session until it ends.
func (b *Broker) runSession(ctx context.Context, s *session) {
	if s.out.start() { // frames queued behind hello_ack, e.g. peer_joined of others
		go s.runWriter()
	}
	stopPings := b.keepAlive(ctx, s)
	defer stopPings()
	s.requestSync() // queued messages flow only after hello_ack, which is already queued
	b.readLoop(ctx, s)
	s.close(int(websocket.StatusNormalClosure), "")
	b.endSession(s)
}

// readLoop handles frames one at a time: per-connection serialization.
func (b *Broker) readLoop(ctx context.Context, s *session) {
	for {
		data, err := b.readFrame(ctx, s.ws)
		var perr *protocol.Error
		switch {
		case errors.Is(err, errTooLarge):
			s.send(protocol.EncodeError(protocol.Errorf(protocol.CodeTooLarge, "frame exceeds MAX_MESSAGE_BYTES and was dropped"), "", ""))
			continue
		case errors.As(err, &perr):
			s.send(protocol.EncodeError(perr, "", ""))
			continue
		case err != nil:
			return
		}
		select {
		case <-s.done:
			return
		default:
		}
		b.handleFrame(ctx, s, data)
	}
}

// keepAlive pings every PingInterval; a peer that does not answer within
// PongTimeout is gone. A timer rather than a goroutine per session: an idle
// session holds no pinger between pings (quality.md P4). The returned stop
// ends it; a ping already running ends with ctx.
func (b *Broker) keepAlive(ctx context.Context, s *session) (stop func()) {
	var (
		mu      sync.Mutex // guards t against the callback's re-arm racing stop
		t       *time.Timer
		stopped bool
	)
	ping := func() {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, b.opts.PongTimeout)
		err := s.ws.Ping(pctx)
		cancel()
		if err != nil {
			b.log.Debug("closing a session that did not answer ping", "presence", s.presenceID, "err", err)
			s.abort()
			return
		}
		mu.Lock()
		if !stopped {
			t.Reset(b.opts.PingInterval)
		}
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(b.opts.PingInterval, ping)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// finishSession records the end of an unregistered session and hands its
// unacked mail back to its member.
func (b *Broker) finishSession(s *session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.store.EndPresence(ctx, s.presenceID, b.now()); err != nil {
		b.log.Warn("recording session end failed", "presence", s.presenceID, "err", err)
	}
	b.cluster.presenceChanged(s.meshID)
	if s.ephemeral {
		// A one-shot session never resumes: mail it pulled and left
		// unacked goes back to its member now, not after a resume window.
		b.commits.releaseSession(s.meshID, s.key())
	} else {
		b.releaseLater(s.meshID, s.key())
	}
	b.audit(s.meshID, "session_disconnected", s.member.Pubkey, map[string]any{"presence_id": s.presenceID, "session_id": s.sessionID})
}

// endSession unregisters a finished connection and tells the mesh, unless a
// newer socket took the session over.
func (b *Broker) endSession(s *session) {
	b.metrics.connections.Dec()
	if !b.hub.unregister(s) {
		return // superseded: the session lives on in its new socket
	}
	b.finishSession(s)
	if !s.ephemeral {
		b.announce(s.meshID, s.presenceID, eventForSession(protocol.EventPeerLeft, s))
	}
	b.log.Debug("session ended", "mesh", s.meshID, "member", s.member.ID, "presence", s.presenceID)
}
