// Command claudemesh is the claudemesh CLI. This build carries only
// `version`; the user commands arrive with the CLI work (see docs/status.md).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "claudemesh",
		Short:         "Connect Claude Code sessions into a mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "claudemesh", version.Version) },
	})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "claudemesh:", err)
		os.Exit(2)
	}
}
