package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/audit"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Operator commands on the audit log"}
	cmd.AddCommand(auditVerifyCmd())
	return cmd
}

type verifyJSON struct {
	MeshID string  `json:"mesh_id"`
	Rows   int64   `json:"rows"`
	OK     bool    `json:"ok"`
	Seq    *int64  `json:"broken_seq,omitempty"`
	ID     *int64  `json:"broken_id,omitempty"`
	Reason *string `json:"reason,omitempty"`
}

// errChainBroken makes the command exit 1 after it printed its report.
var errChainBroken = errors.New("the audit chain is broken")

func auditVerifyCmd() *cobra.Command {
	var meshID string
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify",
		Short: "Walk a mesh's hash-chained audit log and report the first broken row (exit 1 if any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openMeshStore(cmd, meshID)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := audit.Verify(cmd.Context(), st, meshID)
			if err != nil {
				return err
			}
			out := verifyJSON{MeshID: meshID, Rows: res.Rows, OK: res.Broken == nil}
			if b := res.Broken; b != nil {
				out.Seq, out.ID, out.Reason = &b.Seq, &b.ID, &b.Reason
			}
			switch {
			case asJSON:
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			case res.Broken == nil:
				fmt.Fprintf(cmd.OutOrStdout(), "audit chain of %s is intact: %d rows verified\n", meshID, res.Rows)
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "audit chain of %s is BROKEN at row %d (id %d): %s\n%d rows before it verified\n",
					meshID, res.Broken.Seq, res.Broken.ID, res.Broken.Reason, res.Rows)
			}
			if res.Broken != nil {
				return errChainBroken
			}
			return nil
		},
	}
	c.Flags().StringVar(&meshID, "mesh", "", "mesh id (required)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("mesh")
	return c
}
