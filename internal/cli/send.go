package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
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
		t, err := s.resolveTarget(ctx, to)
		if err != nil {
			return fmt.Errorf("sending to %q on mesh %s: %w", to, s.mesh.Slug, err)
		}
		env, err := s.seal(ctx, t, []byte(text), a.allowPlain, a.errUI(), a.Stderr)
		if err != nil {
			return fmt.Errorf("sending to %q on mesh %s: %w", to, s.mesh.Slug, err)
		}
		ack, err := s.c.Send(ctx, client.Outgoing{To: []string{t.spec}, Priority: priority, Envelope: env})
		if err != nil {
			return fmt.Errorf("sending to %q on mesh %s: %w", to, s.mesh.Slug, err)
		}
		out := sent{MessageID: ack.MessageID, To: to, TargetSpec: t.spec, Recipients: ack.Recipients,
			Enc: env.Enc, Priority: priority, Mesh: s.mesh.Slug}
		if a.jsonOut {
			return a.printJSON(out)
		}
		u := a.ui()
		fmt.Fprintf(a.Stdout, "%s %s to %s\n", u.ok.Render("Sent"), out.MessageID, t.describe())
		fmt.Fprintf(a.Stdout, "  %d recipient(s), %s, priority %s, mesh %s\n", out.Recipients, encName(env.Enc), priority, s.mesh.Slug)
		if t.kind == protocol.KindDirect && t.name != "" && !t.online {
			fmt.Fprintln(a.Stdout, u.dim.Render("  "+t.name+" has no live session: it waits for their next one, or their `claudemesh inbox`"))
		}
		return nil
	})
}

// target is a resolved `to`: what goes on the wire and how to encrypt.
type target struct {
	spec   string // targetSpec sent to the broker
	kind   string // direct|group|broadcast
	group  string // for kind group
	name   string // display name, for a person resolved by name
	pub    string // box recipient, for kind direct
	online bool   // a person resolved by name has a live session
}

func (t target) describe() string {
	switch t.kind {
	case protocol.KindBroadcast:
		return "everyone"
	case protocol.KindGroup:
		return "@" + t.group
	}
	if t.name != "" {
		return fmt.Sprintf("%s (%s)", t.name, short(t.pub))
	}
	return short(t.pub)
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

// resolveTarget turns the user's `to` into a wire target. A display name is
// resolved here, not by the broker, because box needs the recipient's key:
// it becomes the member pubkey, so every live session of that member can
// open it (each also holds the member key) and an offline member gets mail.
func (s *meshSession) resolveTarget(ctx context.Context, to string) (target, error) {
	switch {
	case to == "*" || to == "@all":
		return target{spec: to, kind: protocol.KindBroadcast}, nil
	case strings.HasPrefix(to, "@"):
		return target{spec: to, kind: protocol.KindGroup, group: to[1:]}, nil
	case protocol.IsHexKey(to):
		return target{spec: to, kind: protocol.KindDirect, pub: to}, nil
	}
	members, err := s.c.ListMembers(ctx)
	if err != nil {
		return target{}, fmt.Errorf("listing members to find %q: %w", to, err)
	}
	peers, err := s.c.ListPeers(ctx)
	if err != nil {
		return target{}, fmt.Errorf("listing peers to find %q: %w", to, err)
	}
	byPub := map[string]protocol.MemberInfo{}
	for _, m := range members {
		byPub[m.Pubkey] = m
	}
	var hits []string // member pubkeys, each once
	add := func(pub string) {
		if !slices.Contains(hits, pub) {
			hits = append(hits, pub)
		}
	}
	for _, m := range members {
		if strings.EqualFold(m.DisplayName, to) {
			add(m.Pubkey)
		}
	}
	for _, p := range peers {
		if strings.EqualFold(p.DisplayName, to) {
			add(p.MemberPubkey)
		}
	}
	switch len(hits) {
	case 1:
		name := byPub[hits[0]].DisplayName
		if name == "" {
			name = to
		}
		online := slices.ContainsFunc(peers, func(p protocol.Peer) bool { return p.MemberPubkey == hits[0] })
		return target{spec: hits[0], kind: protocol.KindDirect, pub: hits[0], name: name, online: online}, nil
	case 0:
		var names []string
		for _, m := range members {
			names = append(names, m.DisplayName)
		}
		return target{}, fmt.Errorf("no member or live session is called %q (members: %s)", to, strings.Join(names, ", "))
	}
	var cands []string
	for _, pub := range hits {
		cands = append(cands, fmt.Sprintf("%s %s", byPub[pub].DisplayName, pub))
	}
	return target{}, fmt.Errorf("%q names several members; send to one pubkey instead: %s", to, strings.Join(cands, "; "))
}

// seal encrypts for t: box for a person, secretbox for a group or broadcast,
// and plain only when a live recipient lacks secretbox and allowPlain is set,
// which is said on w.
func (s *meshSession) seal(ctx context.Context, t target, text []byte, allowPlain bool, u *ui, w io.Writer) (client.Envelope, error) {
	if t.kind == protocol.KindDirect {
		return s.c.SealDirect(text, t.pub)
	}
	peers, err := s.c.ListPeers(ctx)
	if err != nil {
		return client.Envelope{}, fmt.Errorf("listing peers to check their encryption support: %w", err)
	}
	var old []string
	for _, p := range peers {
		if t.kind == protocol.KindGroup && !slices.ContainsFunc(p.Groups, func(g protocol.Group) bool { return g.Name == t.group }) {
			continue
		}
		if !slices.Contains(p.Capabilities, protocol.CapSecretbox) {
			old = append(old, p.DisplayName)
		}
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
