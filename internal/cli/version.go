package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/version"
)

func (a *App) versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the CLI version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.jsonOut {
				return a.printJSON(map[string]string{"version": version.Version, "go": runtime.Version()})
			}
			fmt.Fprintln(a.Stdout, "claudemesh", version.Version)
			return nil
		},
	}
	a.jsonFlag(cmd)
	return cmd
}
