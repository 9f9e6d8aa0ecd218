package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// peersRefresh is how often `peers --watch` redraws.
const peersRefresh = 2 * time.Second

func (a *App) peersCmd() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the live sessions of a mesh: status, name, groups, summary, cwd",
		Long: `List the live sessions of a mesh. One-shot commands such as this one are
ephemeral and never listed. --watch redraws every 2 s until Ctrl-C (with
--json: one JSON array per line per refresh).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.peers(cmd.Context(), watch) },
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep the list updating every 2 s until interrupted")
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

func (a *App) peers(ctx context.Context, watch bool) error {
	return a.withSession(ctx, func(s *meshSession) error {
		tty := isTerminal(a.Stdout)
		for {
			peers, err := s.c.ListPeers(ctx)
			if err != nil {
				if watch && ctx.Err() != nil {
					return nil // Ctrl-C ends a watch normally
				}
				return fmt.Errorf("listing peers of mesh %s: %w", s.mesh.Slug, err)
			}
			if peers == nil {
				peers = []protocol.Peer{}
			}
			switch {
			case a.jsonOut && watch:
				line, err := json.Marshal(peers)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.Stdout, string(line))
			case a.jsonOut:
				return a.printJSON(peers)
			default:
				if watch && tty {
					fmt.Fprint(a.Stdout, "\x1b[H\x1b[2J") // home + clear: redraw in place
				}
				a.printPeers(s, peers, watch)
			}
			if !watch {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(peersRefresh):
			}
		}
	})
}

func (a *App) printPeers(s *meshSession, peers []protocol.Peer, watch bool) {
	u := a.ui()
	head := fmt.Sprintf("%s  %d live session(s)", u.title.Render(s.mesh.Slug), len(peers))
	if watch {
		head += u.dim.Render("  " + time.Now().Format("15:04:05") + "  (Ctrl-C to stop)")
	}
	fmt.Fprintln(a.Stdout, head)
	if len(peers) == 0 {
		fmt.Fprintln(a.Stdout, u.dim.Render("  nobody is connected (one-shot commands are not listed)"))
		return
	}
	rows := make([][]string, 0, len(peers))
	for _, p := range peers {
		name := p.DisplayName
		if p.PeerType != "" && p.PeerType != "ai" {
			name += u.dim.Render(" (" + p.PeerType + ")")
		}
		rows = append(rows, []string{u.statusDot(p.Status), termSafe(name), termSafe(groupList(p.Groups)), cellText(p.Summary, 48), termSafe(p.CWD)})
	}
	u.table(a.Stdout, []string{"STATUS", "NAME", "GROUPS", "SUMMARY", "CWD"}, rows)
	if !watch {
		fmt.Fprintln(a.Stdout)
	}
}

// statusDot is a coloured dot plus the word, so it reads without colour too.
func (u *ui) statusDot(status string) string {
	colour := map[string]string{"idle": "2", "working": "3", "dnd": "1"}[status]
	if colour == "" {
		colour = "8"
	}
	return u.r.NewStyle().Foreground(lipgloss.Color(colour)).Render("●") + " " + status
}

func groupList(gs []protocol.Group) string {
	parts := make([]string, 0, len(gs))
	for _, g := range gs {
		if g.Role != "" {
			parts = append(parts, g.Name+":"+g.Role)
		} else {
			parts = append(parts, g.Name)
		}
	}
	return strings.Join(parts, ",")
}

// cellText shortens s to n characters (one line) for a table cell.
func cellText(s string, n int) string {
	s = termSafe(strings.Join(strings.Fields(s), " "))
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
