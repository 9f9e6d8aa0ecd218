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
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Server is a running broker with its store and HTTP listener.
type Server struct {
	Broker *broker.Broker
	Store  store.Store
	Addr   string // host:port actually bound (port 0 resolves here)
	http   *http.Server
	done   chan error
	log    *slog.Logger
}

// Start opens the store (running migrations), binds cfg.Host:cfg.Port and
// serves. opts carries test knobs; its Config and Store are filled here.
func Start(ctx context.Context, cfg config.Broker, opts broker.Options) (*Server, error) {
	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listening on %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	opts.Config, opts.Store = cfg, st
	b, err := broker.New(opts)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	b.Start()
	s := &Server{
		Broker: b, Store: st, Addr: ln.Addr().String(), done: make(chan error, 1), log: b.Logger(),
		http: &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second},
	}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// Done reports the HTTP server's exit (http.ErrServerClosed after Shutdown).
func (s *Server) Done() <-chan error { return s.done }

// Shutdown drains: stop accepting, close sockets with 1001, flush accepted
// commits, then close the store.
func (s *Server) Shutdown(ctx context.Context) error {
	httpErr := s.http.Shutdown(ctx) // stops the listener; hijacked sockets are the broker's
	brokerErr := s.Broker.Shutdown(ctx)
	storeErr := s.Store.Close()
	return errors.Join(ignoreClosed(httpErr), brokerErr, storeErr)
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
	s.log.Info("broker listening", "addr", s.Addr, "backend", s.Store.Backend(), "public_url", cfg.PublicURL)
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
