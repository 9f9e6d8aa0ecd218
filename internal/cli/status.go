package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
)

func (a *App) statusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per mesh: broker reachable, hello accepted, clock skew, latency",
		Long: `Check each joined mesh (or --mesh): GET /health on its broker (the Date
header gives the clock skew, to about half a second), an authenticated
ephemeral hello, and one ping round trip. Exit code 4 when a broker is
unreachable, 3 when a hello is refused, 1 for other failures.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.status(cmd.Context()) },
	}
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

func (a *App) status(ctx context.Context) error {
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	meshes, err := a.selectedMeshes(f)
	if err != nil {
		return err
	}
	probes := make([]probe, 0, len(meshes))
	for _, m := range meshes {
		probes = append(probes, a.probeMesh(ctx, f, m))
	}
	if a.jsonOut {
		if err := a.printJSON(probes); err != nil {
			return err
		}
	} else {
		a.printStatus(probes)
	}
	return probesError(probes)
}

// selectedMeshes is --mesh, or every joined mesh.
func (a *App) selectedMeshes(f *cliconfig.File) ([]*cliconfig.Mesh, error) {
	if a.meshRef != "" {
		m, err := f.Find(a.meshRef)
		if err != nil {
			return nil, err
		}
		return []*cliconfig.Mesh{m}, nil
	}
	if len(f.Meshes) == 0 {
		_, err := f.Find("") // the "no mesh joined yet" error with its next step
		return nil, err
	}
	out := make([]*cliconfig.Mesh, len(f.Meshes))
	for i := range f.Meshes {
		out[i] = &f.Meshes[i]
	}
	return out, nil
}

func (a *App) printStatus(probes []probe) {
	u := a.ui()
	rows := make([][]string, 0, len(probes))
	yes := func(ok bool, s string) string {
		if ok {
			return u.ok.Render(s)
		}
		return u.bad.Render(s)
	}
	for _, p := range probes {
		reach := yes(p.Reachable && p.Health == "ok", map[bool]string{true: p.Health, false: "unreachable"}[p.Reachable])
		hello := yes(p.Hello, map[bool]string{true: "accepted (" + p.Role + ")", false: "no"}[p.Hello])
		skew := yes(!p.skewed(), p.skewText())
		lat := "-"
		if p.LatencyMs != nil {
			lat = fmt.Sprintf("%.1f ms", *p.LatencyMs)
		}
		rows = append(rows, []string{p.Mesh, p.Broker, reach, hello, skew, lat})
	}
	u.table(a.Stdout, []string{"MESH", "BROKER", "BROKER HEALTH", "HELLO", "CLOCK SKEW", "LATENCY"}, rows)
	for _, p := range probes {
		if p.Error != "" {
			fmt.Fprintf(a.Stdout, "%s %s: %s\n", u.bad.Render("✗"), p.Mesh, p.Error)
		}
	}
}

// probesError turns failed probes into the command's error (and exit code):
// unreachable wins over refused, which wins over other failures.
func probesError(probes []probe) error {
	var unreachable, refused, other []string
	var refusal error
	for _, p := range probes {
		var be *client.BrokerError
		switch {
		case p.unreachable():
			unreachable = append(unreachable, p.Mesh)
		case errors.As(p.helloErr, &be) && be.Fatal():
			refused, refusal = append(refused, p.Mesh), p.helloErr
		case p.Error != "" || p.Health == "degraded" || p.skewed():
			other = append(other, p.Mesh)
		}
	}
	switch {
	case len(unreachable) > 0:
		return fmt.Errorf("%w for mesh(es) %v", brokerapi.ErrUnreachable, unreachable)
	case len(refused) > 0:
		return fmt.Errorf("hello refused on mesh(es) %v: %w", refused, refusal)
	case len(other) > 0:
		return fmt.Errorf("problems on mesh(es) %v (run `claudemesh doctor`)", other)
	}
	return nil
}
