package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
)

// defaultRPCTimeout bounds each broker round trip of a one-shot command.
const defaultRPCTimeout = 10 * time.Second

// rpcTimeout is $CLAUDEMESH_TIMEOUT (a Go duration like 3s) or 10 s.
func (a *App) rpcTimeout() time.Duration {
	if d, err := time.ParseDuration(a.Getenv("CLAUDEMESH_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return defaultRPCTimeout
}

// meshSession is one joined mesh with an open ephemeral session on it.
type meshSession struct {
	mesh *cliconfig.Mesh
	c    *client.Client
	keys cliconfig.Keys
}

// withSession picks the mesh (--mesh, or the only one), opens an ephemeral
// session, runs fn and closes the session.
func (a *App) withSession(ctx context.Context, fn func(s *meshSession) error) error {
	return a.withSessionID(ctx, "", fn)
}

// withSessionID is withSession with a fixed session id ("" for a random one).
func (a *App) withSessionID(ctx context.Context, sessionID string, fn func(s *meshSession) error) error {
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	m, err := f.Find(a.meshRef)
	if err != nil {
		return err
	}
	c, k, err := a.dialAs(ctx, m, f, sessionID)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(&meshSession{mesh: m, c: c, keys: k})
}

// request sends a frame without a typed client method and decodes the reply,
// which must be of type want (an error frame is already a *client.BrokerError).
func (s *meshSession) request(ctx context.Context, f map[string]any, want string, out any) error {
	if out == nil {
		out = &struct{}{}
	}
	return s.c.RequestInto(ctx, f, want, out)
}

// meshKey is the group key, or why there is none.
func (s *meshSession) meshKey() (*[32]byte, error) {
	if s.keys.RootKey == nil {
		return nil, fmt.Errorf("mesh %s has no rootKey in the config, so group and broadcast messages cannot be encrypted or read; join the mesh again to get it", s.mesh.Slug)
	}
	return client.MeshKey(s.keys.RootKey, s.mesh.MeshID)
}
