package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
)

// meshKeys decodes and checks the mesh's keys, naming the broken field.
func meshKeys(m *cliconfig.Mesh) (cliconfig.Keys, error) { return m.Keys() }

// displayName is --name, else the config's displayName, else $USER.
func (a *App) displayName(flag string, f *cliconfig.File) string {
	for _, s := range []string{flag, f.DisplayName, a.Getenv("USER"), a.Getenv("USERNAME")} {
		if s != "" {
			return s
		}
	}
	host, _ := os.Hostname()
	if host != "" {
		return host
	}
	return "claudemesh-user"
}

// dial opens an ephemeral session (protocol.md §2): a one-shot command is
// never announced, never listed and never a delivery target.
func (a *App) dial(ctx context.Context, m *cliconfig.Mesh, f *cliconfig.File) (*client.Client, cliconfig.Keys, error) {
	return a.dialAs(ctx, m, f, "")
}

// dialAs is dial with a chosen session id ("" for a random one).
func (a *App) dialAs(ctx context.Context, m *cliconfig.Mesh, f *cliconfig.File, sessionID string) (*client.Client, cliconfig.Keys, error) {
	k, err := meshKeys(m)
	if err != nil {
		return nil, k, err
	}
	cwd, _ := os.Getwd()
	c, err := client.Dial(ctx, client.Config{
		BrokerURL: m.BrokerURL, MeshID: m.MeshID, MemberID: m.MemberID, MemberKey: k.Member,
		DisplayName: a.displayName("", f), PeerType: "human", CWD: cwd, Ephemeral: true, SessionID: sessionID,
		RPCTimeout: a.rpcTimeout(), DialTimeout: a.rpcTimeout(),
	})
	if err != nil {
		return nil, k, fmt.Errorf("connecting to mesh %s at %s: %w", m.Slug, m.BrokerURL, err)
	}
	return c, k, nil
}

// adminAPI is an HTTP client for m's broker that signs with the owner key
// when this machine has it, else with the member key (an admin member).
func adminAPI(m *cliconfig.Mesh) (*brokerapi.Client, error) {
	k, err := meshKeys(m)
	if err != nil {
		return nil, err
	}
	api, err := brokerapi.New(m.BrokerURL)
	if err != nil {
		return nil, fmt.Errorf("mesh %s: %w", m.Slug, err)
	}
	api.Signer = k.Member
	if k.Owner != nil {
		api.Signer = k.Owner
	}
	return api, nil
}

// short abbreviates a key or id for tables.
func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// isoNow is the config's timestamp format (the original CLI's toISOString).
func isoNow(now time.Time) string { return now.UTC().Format("2006-01-02T15:04:05.000Z") }
