// Package broker is the claudemesh message broker: it authenticates
// sessions, routes end-to-end encrypted envelopes and delivers them at least
// once from the store.
//
// Lock order (never acquire in the other direction):
//
//	hub.mu  ->  session.mu
//	memberCache.mu is a leaf: never held while calling into the hub or a session.
//	Broker.groupsMu -> memberCache.mu; groupsMu is never held with hub.mu or a session.mu.
//	hookGate.mu is a leaf.
//	cluster.mu and cluster.schedMu are leaves.
//	Broker.connMu is a leaf (admitConn and the start of Shutdown).
//
// Goroutines per connection: one reader (handles frames in order), one
// writer (drains the bounded write queue), one syncer (loads backlog from the
// store). One committer goroutine owns all store writes of messages and acks.
// Background loops: member poller, message TTL sweeper, status TTL sweeper
// (memory only), and with PostgreSQL the cluster loops (cluster.go). Status changes to idle wake the session's syncer, which
// pushes held messages.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Options wires a broker. Zero timing fields take the production defaults;
// tests shorten them.
type Options struct {
	Config  config.Broker
	Store   store.Store
	Logger  *slog.Logger
	Version string
	NodeID  string
	Audit   Auditor // metadata-only audit log; nil records nothing

	PingInterval       time.Duration // 30 s: broker pings every connection
	PongTimeout        time.Duration // 45 s: no pong within this closes (75 s after the last traffic)
	ResumeWindow       time.Duration // SESSION_RESUME_SECONDS: a dropped session can be resumed
	MemberPollInterval time.Duration // 250 ms: how fast revocations by other processes are seen
	SweepInterval      time.Duration // 1 min: TTL expiry sweep
	// StatusSweepInterval is how often a working status past
	// STATUS_TTL_SECONDS is turned idle (1 s).
	StatusSweepInterval time.Duration
	HookRatePerSec      int           // 10: hook requests per member and second (burst twice that)
	HelloTimeout        time.Duration // 10 s: first frame must arrive
	WriteTimeout        time.Duration // 10 s: one socket write
	WriteQueueSize      int           // 1024 frames per connection
	// Clustering (cluster.go). HeartbeatInterval and NodeDeadAfter default
	// to CLUSTER_HEARTBEAT_SECONDS and CLUSTER_NODE_TIMEOUT_SECONDS.
	HeartbeatInterval    time.Duration // 5 s: heartbeat, dead-node check, orphan sweep
	NodeDeadAfter        time.Duration // 20 s: a heartbeat older than this is a dead node
	CatchUpInterval      time.Duration // 2 s: poll for rows whose wake-up was lost
	PresencePollInterval time.Duration // 1 s: reload other nodes' presences, write local status
	Now                  func() time.Time
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 30*time.Second)
	def(&o.PongTimeout, 45*time.Second)
	def(&o.ResumeWindow, o.Config.SessionResume)
	def(&o.ResumeWindow, 90*time.Second)
	def(&o.MemberPollInterval, 250*time.Millisecond)
	def(&o.SweepInterval, time.Minute)
	def(&o.StatusSweepInterval, time.Second)
	if o.HookRatePerSec == 0 {
		o.HookRatePerSec = 10
	}
	def(&o.HelloTimeout, 10*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	if o.Config.AuthFailuresPerMin == 0 {
		o.Config.AuthFailuresPerMin = 30
	}
	if o.Config.MemberSendRatePerSec == 0 {
		o.Config.MemberSendRatePerSec = 1000
	}
	if o.WriteQueueSize == 0 {
		o.WriteQueueSize = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Audit == nil {
		o.Audit = noAudit{}
	}
	if o.NodeID == "" {
		o.NodeID = ids.New("node") // fresh per process: a restarted broker is a new node
	}
	def(&o.HeartbeatInterval, o.Config.ClusterHeartbeat)
	def(&o.HeartbeatInterval, 5*time.Second)
	def(&o.NodeDeadAfter, o.Config.ClusterNodeTimeout)
	def(&o.NodeDeadAfter, 20*time.Second)
	def(&o.CatchUpInterval, 2*time.Second)
	def(&o.PresencePollInterval, time.Second)
}

// Broker is one broker node.
type Broker struct {
	opts      Options
	cfg       config.Broker
	store     store.Store
	log       *slog.Logger
	hub       *hub
	members   *memberCache
	commits   *committer
	cluster   *cluster // other nodes on the same store (cluster.go)
	replays   *replayCache
	hooks     *hookGate     // pending hooks and the per-member hook rate limit
	auth      *AuthGuard    // failed authentications per client address
	sends     *keyedLimiter // sends per member (mesh|member), across its sessions
	groupsMu  sync.Mutex    // serializes read-modify-write of remembered groups; taken before memberCache.mu, never with hub or session locks
	metrics   *metrics
	startedAt time.Time

	ctx      context.Context // cancelled at shutdown; parent of every connection
	cancel   context.CancelFunc
	draining atomic.Bool
	// conns counts connection goroutines. connMu orders every conns.Add
	// before Shutdown's Wait: a WaitGroup must not grow from zero while
	// someone waits, and an upgrade may race the drain.
	connMu sync.Mutex
	conns  sync.WaitGroup
	loops  sync.WaitGroup // background loops
}

// New builds a broker; Start runs its background loops.
func New(opts Options) (*Broker, error) {
	if opts.Store == nil {
		return nil, errors.New("broker: a store is required")
	}
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		opts: opts, cfg: opts.Config, store: opts.Store, log: opts.Logger,
		replays: newReplayCache(), metrics: newMetrics(),
		startedAt: opts.Now(), ctx: ctx, cancel: cancel,
	}
	b.hub = newHub(b)
	b.members = newMemberCache(opts.Store)
	b.hooks = newHookGate(opts.HookRatePerSec)
	b.auth = newAuthGuard(opts.Config.AuthFailuresPerMin, b.metrics)
	b.sends = newKeyedLimiter(float64(opts.Config.MemberSendRatePerSec), float64(2*opts.Config.MemberSendRatePerSec))
	b.commits = newCommitter(b)
	b.cluster = newCluster(b)
	b.metrics.registerGauges(b)
	return b, nil
}

// Start lets the previous process's sessions resume, then runs the committer, the member poller, the message TTL sweeper and
// the status TTL sweeper.
func (b *Broker) Start() {
	b.resumeRecentSessions() // before the cluster's takeover, whose longer windows win
	b.cluster.start()        // takes over dead nodes and orphaned sessions before any socket is served
	b.commits.start()
	b.goLoop(b.pollMembers)
	b.goLoop(b.sweepExpired)
	b.goLoop(b.sweepStatus)
}

func (b *Broker) goLoop(f func()) {
	b.loops.Add(1)
	go func() { defer b.loops.Done(); f() }()
}

// Handler serves /ws, /hook/set-status, /health and /metrics.
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", b.serveWS)
	mux.HandleFunc("POST /hook/set-status", b.serveHook)
	mux.HandleFunc("GET /health", b.serveHealth)
	mux.Handle("GET /metrics", b.metrics.handler())
	return mux
}

// Shutdown drains: refuse new sockets, close live ones with 1001, let the
// committer flush what it accepted, end presences, stop loops. The store is
// left open for the caller to close.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.connMu.Lock()
	already := b.draining.Swap(true)
	b.connMu.Unlock()
	if already {
		return nil
	}
	// Sends arriving from now on are refused with unavailable; the ones
	// already accepted are committed and their acks written before any
	// socket closes (cli.md: flush in-flight commits, then close with 1001).
	b.waitFlushed(ctx)
	b.hub.closeAll(statusGoingAway, "broker shutting down")
	done := make(chan struct{})
	go func() { b.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	b.commits.stop() // flushes every request already queued
	b.cancel()
	b.loops.Wait()
	return ctx.Err()
}

// waitFlushed waits until no session has a send waiting for its commit or a
// frame waiting for its socket, at most 5 s. It polls queue lengths, which
// are safe to read from any goroutine, instead of joining per-session
// WaitGroups owned by the readers.
func (b *Broker) waitFlushed(ctx context.Context) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		busy := false
		for _, s := range b.hub.all() {
			select {
			case <-s.done:
				continue
			default:
			}
			if len(s.sendSlots) > 0 || s.out.len() > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond) // shutdown only: a short poll with a deadline
	}
}

func (b *Broker) now() time.Time { return b.opts.Now() }

// OnlineSessions counts the live, non-ephemeral sessions of each member of
// a mesh on this node.
func (b *Broker) OnlineSessions(meshID string) map[string]int {
	out := map[string]int{}
	for _, s := range b.hub.sessions(meshID) {
		if !s.ephemeral {
			out[s.member.ID]++
		}
	}
	for id, n := range b.cluster.remoteOnline(meshID) {
		out[id] += n
	}
	return out
}

// NodeID names this broker process among the nodes sharing its store.
func (b *Broker) NodeID() string { return b.opts.NodeID }

// AuthGuard is the per-address limit of failed authentications, shared
// with the HTTP API's signed admin routes.
func (b *Broker) AuthGuard() *AuthGuard { return b.auth }

// Logger returns the broker's logger.
func (b *Broker) Logger() *slog.Logger { return b.log }
