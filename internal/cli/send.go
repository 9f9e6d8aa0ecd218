package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

func (a *App) sendCmd() *cobra.Command {
	var priority string
	cmd := &cobra.Command{
		Use:   "send <to> <message>",
		Short: "Send an end-to-end encrypted message to a peer, a group or everyone",
		Long: `Send a message. <to> is a display name, a 64-hex pubkey, @group, or * (@all).
A person gets a box-encrypted DM to their member key, which reaches every
live session of theirs, or waits for their next one. Groups and broadcasts
are encrypted with the mesh key. <message> "-" reads the text from stdin.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("%s needs a target and a message, got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			text := strings.Join(args[1:], " ")
			if text == "-" {
				b, err := io.ReadAll(io.LimitReader(a.Stdin, 1<<20))
				if err != nil {
					return fmt.Errorf("reading the message from stdin: %w", err)
				}
				text = strings.TrimRight(string(b), "\n")
			}
			return a.send(cmd.Context(), args[0], text, priority)
		},
	}
	cmd.Flags().StringVar(&priority, "priority", protocol.PriorityNext, "now (interrupts a working session), next or low")
	cmd.Flags().BoolVar(&a.allowPlain, "allow-plain", false, "send a group message as plain text the broker can read when a recipient cannot decrypt secretbox (older clients)")
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

// sent is what `send --json` prints.
type sent struct {
	MessageID  string `json:"messageId"`
	To         string `json:"to"`
	TargetSpec string `json:"targetSpec"`
	Recipients int    `json:"recipients"`
	Enc        string `json:"enc"`
	Priority   string `json:"priority"`
	Mesh       string `json:"mesh"`
}

func (a *App) send(ctx context.Context, to, text, priority string) error {
	switch priority {
	case protocol.PriorityNow, protocol.PriorityNext, protocol.PriorityLow:
	default:
		return usagef("--priority must be now, next or low, got %q", priority)
	}
	if strings.TrimSpace(to) == "" {
		return usagef("send: the target is empty")
	}
	if strings.Contains(to, ",") {
		return usagef("send takes one target (a name, a pubkey, @group or *); for several people use a group or one send each")
	}
	if text == "" {
		return usagef("send: the message is empty")
	}
	return a.withSession(ctx, func(s *meshSession) error {
		t, err := s.c.ResolveTarget(ctx, to)
		if err != nil {
			return fmt.Errorf("sending to %q on mesh %s: %w", to, s.mesh.Slug, err)
		}
		env, err := s.seal(ctx, t, []byte(text), a.allowPlain, a.errUI(), a.Stderr)
		if err != nil {
			return fmt.Errorf("sending to %q on mesh %s: %w", to, s.mesh.Slug, err)
		}
		ack, err := s.c.Send(ctx, client.Outgoing{To: []string{t.Spec}, Priority: priority, Envelope: env})
		if err != nil {
			return fmt.Errorf("sending to %q on mesh %s: %w", to, s.mesh.Slug, err)
		}
		out := sent{MessageID: ack.MessageID, To: to, TargetSpec: t.Spec, Recipients: ack.Recipients,
			Enc: env.Enc, Priority: priority, Mesh: s.mesh.Slug}
		if a.jsonOut {
			return a.printJSON(out)
		}
		u := a.ui()
		fmt.Fprintf(a.Stdout, "%s %s to %s\n", u.ok.Render("Sent"), out.MessageID, t.Describe())
		fmt.Fprintf(a.Stdout, "  %d recipient(s), %s, priority %s, mesh %s\n", out.Recipients, encName(env.Enc), priority, s.mesh.Slug)
		if t.Kind == protocol.KindDirect && t.Name != "" && !t.Online {
			fmt.Fprintln(a.Stdout, u.dim.Render("  "+t.Name+" has no live session: it waits for their next one, or their `claudemesh inbox`"))
		}
		return nil
	})
}

func encName(enc string) string {
	switch enc {
	case protocol.EncBox:
		return "box (end-to-end, to their key)"
	case protocol.EncSecretbox:
		return "secretbox (mesh key)"
	}
	return "plain (NOT encrypted)"
}

// seal encrypts for t: box for a person, secretbox for a group or broadcast,
// and plain only when a live recipient lacks secretbox and allowPlain is set,
// which is said on w.
func (s *meshSession) seal(ctx context.Context, t client.Target, text []byte, allowPlain bool, u *ui, w io.Writer) (client.Envelope, error) {
	if t.Kind == protocol.KindDirect {
		return s.c.SealDirect(text, t.Pub)
	}
	old, err := s.c.LegacyRecipients(ctx, t)
	if err != nil {
		return client.Envelope{}, err
	}
	if len(old) > 0 {
		// The capability list comes through the broker, so plain text (which
		// the broker can read) is sent only when the user says so.
		if !allowPlain {
			return client.Envelope{}, fmt.Errorf("%s cannot decrypt group messages (no secretbox capability: an older client), so this message could only go as plain text the broker can read; nothing was sent (rerun with --allow-plain to send it anyway, or message people one by one)",
				strings.Join(old, ", "))
		}
		fmt.Fprintf(w, "%s %s cannot decrypt group messages (an older client), so this message goes as plain base64 text that the broker can read (--allow-plain)\n",
			u.bad.Render("warning:"), strings.Join(old, ", "))
		return client.SealPlain(text), nil
	}
	mk, err := s.meshKey()
	if err != nil {
		return client.Envelope{}, err
	}
	return client.SealGroup(text, mk)
}
