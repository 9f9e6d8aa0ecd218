package cli

import "github.com/spf13/cobra"

// addCommands registers every user command. Each group lives in its own file.
func (a *App) addCommands(root *cobra.Command) {
	root.AddCommand(a.meshCmd())
	root.AddCommand(a.hookCmd(), a.launchCmd())
	root.AddCommand(a.inviteCmd(), a.joinCmd(), a.leaveCmd(), a.listCmd(), a.whoamiCmd(), a.membersCmd(), a.kickCmd())
	root.AddCommand(a.sendCmd(), a.inboxCmd(), a.peersCmd())
	root.AddCommand(a.mcpCmd())
	root.AddCommand(a.stateCmd(), a.rememberCmd(), a.recallCmd(), a.forgetCmd())
	root.AddCommand(a.statusCmd(), a.doctorCmd(), a.completionCmd())
	root.AddCommand(a.installCmd(), a.uninstallCmd())
}
