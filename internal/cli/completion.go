package cli

import (
	"github.com/spf13/cobra"
)

func (a *App) completionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion <bash|zsh|fish|powershell>",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell, for example:
  claudemesh completion bash > /etc/bash_completion.d/claudemesh
  claudemesh completion zsh > "${fpath[1]}/_claudemesh"
  claudemesh completion fish > ~/.config/fish/completions/claudemesh.fish
  claudemesh completion powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      exactArgs(1, "shell"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.Stdout)
			case "fish":
				return root.GenFishCompletion(a.Stdout, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(a.Stdout)
			}
			return usagef("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}
