package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/datakey"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Operator subcommands work directly on the configured store. A running
// broker notices member changes (revocations included) within one poll.

type meshJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	OwnerPubkey string `json:"owner_pubkey"`
	CreatedAt   string `json:"created_at"`
}

type memberJSON struct {
	ID          string  `json:"id"`
	MeshID      string  `json:"mesh_id"`
	Pubkey      string  `json:"pubkey"`
	DisplayName string  `json:"display_name"`
	Role        string  `json:"role"`
	JoinedAt    string  `json:"joined_at"`
	RevokedAt   *string `json:"revoked_at"`
}

func toMemberJSON(m store.Member) memberJSON {
	out := memberJSON{ID: m.ID, MeshID: m.MeshID, Pubkey: m.Pubkey, DisplayName: m.DisplayName, Role: m.Role, JoinedAt: m.JoinedAt.UTC().Format(time.RFC3339Nano)}
	if m.RevokedAt != nil {
		s := m.RevokedAt.UTC().Format(time.RFC3339Nano)
		out.RevokedAt = &s
	}
	return out
}

// operatorAudit chains an operator action into the mesh's audit log, with
// "operator" as the actor: the change was made on the store directly.
func operatorAudit(cmd *cobra.Command, st store.Store, meshID, event string, details map[string]any) error {
	return st.AppendAudit(cmd.Context(), []store.AuditEntry{{MeshID: meshID, At: time.Now(), Event: event, Actor: "operator", Details: details}})
}

func meshCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mesh", Short: "Operator commands on meshes"}
	var name, owner, rootKey string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a mesh directly in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var key []byte
			if rootKey != "" {
				var err error
				if key, err = base64.RawURLEncoding.DecodeString(rootKey); err != nil {
					return errors.New("--root-key must be base64url without padding")
				}
			}
			// The root key is encrypted at rest with the same data key the
			// broker uses (BROKER_ENCRYPTION_KEY or the data dir's key file).
			var dataKey *datakey.Key
			if key != nil {
				cfg, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				if dataKey, err = datakey.Load(cfg.EncryptionKey, cfg.DataDir); err != nil {
					return err
				}
			}
			st, err := openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := meshadmin.CreateSealed(cmd.Context(), st, dataKey, name, owner, key, time.Now())
			if err != nil {
				return err
			}
			if err := operatorAudit(cmd, st, m.ID, "mesh_created", map[string]any{"slug": m.Slug, "owner_pubkey": m.OwnerPubkey}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), meshJSON{m.ID, m.Name, m.Slug, m.OwnerPubkey, m.CreatedAt.UTC().Format(time.RFC3339Nano)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created mesh %s (%s, slug %s)\n", m.ID, m.Name, m.Slug)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "mesh name (required)")
	create.Flags().StringVar(&owner, "owner-pubkey", "", "owner ed25519 public key, 64 hex (required)")
	create.Flags().StringVar(&rootKey, "root-key", "", "mesh root key, 32 bytes base64url")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("owner-pubkey")
	cmd.AddCommand(create)
	return cmd
}

func memberCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "member", Short: "Operator commands on members"}
	cmd.AddCommand(memberAddCmd(), memberListCmd(), memberRevokeCmd())
	return cmd
}

func memberAddCmd() *cobra.Command {
	var meshID, pubkey, name, role string
	var asJSON bool
	c := &cobra.Command{
		Use:   "add",
		Short: "Add a member to a mesh",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := meshadmin.AddMember(cmd.Context(), st, meshID, pubkey, name, role, time.Now())
			if err != nil {
				return err
			}
			if err := operatorAudit(cmd, st, meshID, "member_joined", map[string]any{"member_id": m.ID, "role": m.Role, "via": "operator"}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), toMemberJSON(m))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added member %s (%s, %s) to %s\n", m.ID, m.DisplayName, m.Role, m.MeshID)
			return nil
		},
	}
	c.Flags().StringVar(&meshID, "mesh", "", "mesh id (required)")
	c.Flags().StringVar(&pubkey, "pubkey", "", "member ed25519 public key, 64 hex (required)")
	c.Flags().StringVar(&name, "name", "", "display name (required)")
	c.Flags().StringVar(&role, "role", store.RoleMember, "admin or member")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	for _, f := range []string{"mesh", "pubkey", "name"} {
		_ = c.MarkFlagRequired(f)
	}
	return c
}

func memberListCmd() *cobra.Command {
	var meshID string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List a mesh's members, revoked ones included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openMeshStore(cmd, meshID)
			if err != nil {
				return err
			}
			defer st.Close()
			members, err := st.ListMembers(cmd.Context(), meshID)
			if err != nil {
				return err
			}
			out := make([]memberJSON, len(members))
			for i, m := range members {
				out[i] = toMemberJSON(m)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tPUBKEY\tSTATE")
			for _, m := range out {
				state := "active"
				if m.RevokedAt != nil {
					state = "revoked " + *m.RevokedAt
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\n", m.ID, m.DisplayName, m.Role, m.Pubkey[:16], state)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&meshID, "mesh", "", "mesh id (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("mesh")
	return c
}

func memberRevokeCmd() *cobra.Command {
	var meshID, memberID string
	var asJSON bool
	c := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a member; a running broker closes its sessions within 1 s",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := st.RevokeMember(cmd.Context(), meshID, memberID, time.Now())
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no member %q in mesh %q", memberID, meshID)
			}
			if err != nil {
				return err
			}
			if err := operatorAudit(cmd, st, meshID, "member_revoked", map[string]any{"member_id": m.ID, "pubkey": m.Pubkey}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), toMemberJSON(m))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked member %s (%s)\n", m.ID, m.DisplayName)
			return nil
		},
	}
	c.Flags().StringVar(&meshID, "mesh", "", "mesh id (required)")
	c.Flags().StringVar(&memberID, "member", "", "member id (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("mesh")
	_ = c.MarkFlagRequired("member")
	return c
}
