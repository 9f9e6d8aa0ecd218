// Package server is the broker's composition root: it opens the store,
// builds the broker and serves it on one listener, and drains on shutdown.
// cmd/broker and the in-process tests both start brokers through it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/claudemesh/claudemesh/internal/api"
	"github.com/claudemesh/claudemesh/internal/audit"
	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/datakey"
	"github.com/claudemesh/claudemesh/internal/mail"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Server is a running broker with its store and HTTP listener.
type Server struct {
	Broker *broker.Broker
	Store  store.Store
	Addr   string // host:port actually bound (port 0 resolves here)
	Audit  *audit.Recorder
	// PublicURL is cfg.PublicURL, with a default URL's port 0 replaced by
	// the bound port.
	PublicURL string
	// PprofAddr is the bound pprof listener when BROKER_PPROF_ADDR is set.
	PprofAddr string
	pprof     *http.Server
	http      *http.Server
	done      chan error
	log       *slog.Logger
	lock      *dataDirLock // SQLite: one broker per data directory; nil with PostgreSQL
}

// Start opens the store (running migrations), binds cfg.Host:cfg.Port and
// serves. opts carries test knobs; its Config and Store are filled here.
func Start(ctx context.Context, cfg config.Broker, opts broker.Options) (*Server, error) {
	// The data key and mail settings are checked before anything binds, so
	// a bad setting stops startup with its own message.
	var keys *datakey.Key
	if cfg.EncryptionKey != "" || cfg.DataDir != "" {
		k, err := datakey.Load(cfg.EncryptionKey, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		keys = k
	}
	smtp, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
	if err != nil {
		return nil, err
	}
	var lock *dataDirLock
	if cfg.DatabaseURL == "" {
		if lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	if err != nil {
		st.Close()
		lock.release()
		return nil, fmt.Errorf("listening on %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	cfg.PublicURL = resolvePublicURL(cfg.PublicURL, ln.Addr().String())
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rec := audit.NewRecorder(st, opts.Logger)
	if opts.Audit == nil {
		opts.Audit = rec
	}
	opts.Config, opts.Store = cfg, st
	b, err := broker.New(opts)
	if err != nil {
		rec.Close(ctx)
		ln.Close()
		st.Close()
		lock.release()
		return nil, err
	}
	b.Start()
	deps := api.Deps{Store: st, Config: cfg, Keys: keys, Audit: rec, Online: b.OnlineSessions,
		RateLimited: func() { b.CountRateLimited("http") },
		AuthGuard:   b.AuthGuard(),
		Revoked:     b.MemberRevoked,
		Log:         b.Logger(), Now: opts.Now, Next: b.Handler()}
	if smtp != nil {
		deps.Mail = smtp
	}
	s := &Server{
		Broker: b, Store: st, Addr: ln.Addr().String(), Audit: rec, PublicURL: cfg.PublicURL,
		done: make(chan error, 1), log: b.Logger(), lock: lock,
		http: &http.Server{Handler: api.New(deps).Handler(), ReadHeaderTimeout: 10 * time.Second},
	}
	if cfg.PprofAddr != "" {
		if err := s.servePprof(cfg.PprofAddr); err != nil {
			s.Shutdown(ctx)
			return nil, err
		}
	}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// resolvePublicURL replaces port 0 (a test or "any port" setting) in the
// public URL with the port actually bound.
func resolvePublicURL(public, bound string) string {
	u, err := url.Parse(public)
	if err != nil || u.Port() != "0" {
		return public
	}
	_, port, _ := net.SplitHostPort(bound)
	u.Host = net.JoinHostPort(u.Hostname(), port)
	return u.String()
}

// Done reports the HTTP server's exit (http.ErrServerClosed after Shutdown).
func (s *Server) Done() <-chan error { return s.done }

// Shutdown drains: stop accepting, close sockets with 1001, flush accepted
// commits, then close the store.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.pprof != nil {
		s.pprof.Close()
	}
	httpErr := s.http.Shutdown(ctx) // stops the listener; hijacked sockets are the broker's
	brokerErr := s.Broker.Shutdown(ctx)
	auditErr := s.Audit.Close(ctx) // after the broker: its last session_disconnected rows get written
	storeErr := s.Store.Close()
	s.lock.release()
	return errors.Join(ignoreClosed(httpErr), brokerErr, auditErr, storeErr)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Run serves until ctx is cancelled (SIGTERM), then drains within 30 s.
func Run(ctx context.Context, cfg config.Broker, opts broker.Options) error {
	s, err := Start(ctx, cfg, opts)
	if err != nil {
		return err
	}
	s.log.Info("broker listening", "addr", s.Addr, "backend", s.Store.Backend(), "public_url", s.PublicURL, "node", s.Broker.NodeID())
	select {
	case <-ctx.Done():
	case err := <-s.done:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	s.log.Info("draining: closing sessions and flushing commits")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("broker stopped cleanly")
	return nil
}
