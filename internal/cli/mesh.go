package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// defaultBrokerURL is used by `mesh create` when neither --broker nor
// CLAUDEMESH_BROKER_URL is given: the broker's own default address.
const defaultBrokerURL = "http://127.0.0.1:7900"

func (a *App) meshCmd() *cobra.Command {
	mesh := &cobra.Command{Use: "mesh", Short: "Create meshes", Args: noArgs}
	var broker, name, adminToken string
	create := &cobra.Command{
		Use:   "create <name>",
		Short: "Create a mesh on a broker; you become its owner and first admin",
		Args:  exactArgs(1, "name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.createMesh(cmd, args[0], broker, name, adminToken)
		},
	}
	create.Flags().StringVar(&broker, "broker", "", "broker URL (default $CLAUDEMESH_BROKER_URL, else "+defaultBrokerURL+")")
	create.Flags().StringVar(&name, "name", "", "your display name in the mesh (default $USER)")
	create.Flags().StringVar(&adminToken, "admin-token", "", "the broker's BROKER_ADMIN_TOKEN, when it requires one (default $CLAUDEMESH_ADMIN_TOKEN)")
	a.jsonFlag(create)
	mesh.AddCommand(create)
	return mesh
}

func (a *App) createMesh(cmd *cobra.Command, meshName, broker, display, adminToken string) error {
	f, err := a.loadConfig()
	if err != nil {
		return err
	}
	if broker == "" {
		broker = a.Getenv("CLAUDEMESH_BROKER_URL")
	}
	if broker == "" {
		broker = defaultBrokerURL
	}
	if adminToken == "" {
		adminToken = a.Getenv("CLAUDEMESH_ADMIN_TOKEN")
	}
	api, err := brokerapi.New(broker)
	if err != nil {
		return usagef("--broker: %v", err)
	}
	api.AdminToken = adminToken
	_, owner, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	_, member, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	rootKey := make([]byte, 32)
	if _, err := rand.Read(rootKey); err != nil {
		return err
	}
	display = a.displayName(display, f)
	ownerPub, memberPub := pubHex(owner), pubHex(member)
	ts := a.Now().UnixMilli()
	created, err := api.CreateMesh(cmd.Context(), brokerapi.CreateMeshRequest{
		Name: meshName, OwnerPubkey: ownerPub, RootKey: protocol.EncodeB64URL(rootKey), PeerPubkey: memberPub,
		DisplayName: display, Timestamp: ts,
		Signature: protocol.SignHex(owner, protocol.CreateMeshCanonical(meshName, ownerPub, memberPub, ts)),
	})
	if err != nil {
		return fmt.Errorf("creating mesh %q on %s: %w", meshName, api.Base, err)
	}
	dir, err := a.configDir()
	if err != nil {
		return err
	}
	saved := cliconfig.Mesh{
		MeshID: created.MeshID, MemberID: created.MemberID, Slug: created.Slug, Name: meshName,
		Pubkey: memberPub, SecretKey: hex.EncodeToString(member), BrokerURL: api.Base,
		JoinedAt: isoNow(a.Now()), RootKey: protocol.EncodeB64URL(rootKey), Role: "admin",
		OwnerSecretKey: hex.EncodeToString(owner),
	}
	err = cliconfig.Update(dir, func(f *cliconfig.File) error {
		f.Upsert(saved)
		if f.DisplayName == "" {
			f.DisplayName = display
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mesh %s was created on the broker but saving it locally failed: %w", created.MeshID, err)
	}
	if a.jsonOut {
		return a.printJSON(map[string]string{"mesh_id": created.MeshID, "slug": created.Slug, "name": meshName,
			"member_id": created.MemberID, "broker_url": api.Base, "role": "admin"})
	}
	u := a.ui()
	fmt.Fprintf(a.Stdout, "%s %s (%s)\n", u.ok.Render("Created mesh"), u.title.Render(meshName), created.Slug)
	fmt.Fprintf(a.Stdout, "  mesh id  %s\n  broker   %s\n  you      %s, admin and owner\n", created.MeshID, api.Base, display)
	u.nextStep(a.Stdout, "invite a colleague:", "claudemesh invite create --mesh "+created.Slug)
	return nil
}

func pubHex(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }
