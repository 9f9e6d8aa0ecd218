package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// inboxPoll is how often `inbox --wait` asks again: an ephemeral session is
// never a delivery target, so new mail is found only by fetching.
const inboxPoll = 500 * time.Millisecond

func (a *App) inboxCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "Print and clear the messages waiting for you (those no live session of yours took)",
		Long: `Fetch the messages queued for your member, decrypt and print them, and
acknowledge exactly those printed. Messages a live session of yours (Claude
Code) already received are not shown again here. With --wait, when nothing
is waiting, it keeps fetching (every 0.5 s) until something arrives or the
time is up. A message that cannot be decrypted is reported as such, stays
queued, and makes the exit code 1.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.inbox(cmd.Context(), wait) },
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "when nothing is waiting, keep fetching until a message arrives or this much time passes (e.g. 2s)")
	a.meshFlag(cmd)
	a.jsonFlag(cmd)
	return cmd
}

// inboxEntry is one printed message (--json form); Error replaces Text when
// the message could not be decrypted.
type inboxEntry struct {
	MessageID        string `json:"messageId"`
	From             string `json:"from"`
	FromPubkey       string `json:"fromPubkey"`
	FromMemberPubkey string `json:"fromMemberPubkey"`
	Kind             string `json:"kind"`
	Group            string `json:"group,omitempty"`
	Priority         string `json:"priority"`
	Enc              string `json:"enc"`
	SentAt           string `json:"sentAt"`
	Text             string `json:"text,omitempty"`
	Error            string `json:"error,omitempty"`
}

func (a *App) inbox(ctx context.Context, wait time.Duration) error {
	if wait < 0 {
		return usagef("--wait must not be negative")
	}
	return a.withSession(ctx, func(s *meshSession) error {
		mk, _ := s.meshKey() // nil: Open reports secretbox messages as undecryptable, naming why
		deadline := time.Now().Add(wait)
		seen := map[string]bool{} // messageIds already printed or reported
		var entries []inboxEntry
		failed, waitSaid := 0, false
		for {
			pushes, _, err := s.c.FetchPending(ctx)
			if err != nil {
				if ctx.Err() != nil && wait > 0 {
					break // Ctrl-C ends a wait normally
				}
				return fmt.Errorf("fetching messages from mesh %s: %w", s.mesh.Slug, err)
			}
			for i := range pushes {
				p := &pushes[i]
				if p.Subtype == "system" || seen[p.MessageID] {
					continue
				}
				seen[p.MessageID] = true
				e := inboxEntry{MessageID: p.MessageID, From: p.SenderName, FromPubkey: p.SenderPubkey,
					FromMemberPubkey: p.SenderMemberPubkey, Kind: p.Kind, Group: p.Group, Priority: p.Priority,
					Enc: p.Enc, SentAt: p.CreatedAt}
				pt, err := s.c.Open(p, mk)
				if err != nil {
					e.Error = err.Error()
					failed++
				} else {
					e.Text = string(pt)
				}
				if !a.jsonOut {
					a.printInboxEntry(e)
				}
				entries = append(entries, e)
				if e.Error == "" && !a.jsonOut {
					// Ack only what was shown: the broker then marks it delivered.
					if err := s.ack(ctx, p.MessageID); err != nil {
						return fmt.Errorf("acknowledging message %s on mesh %s: %w", p.MessageID, s.mesh.Slug, err)
					}
				}
			}
			if len(entries) > 0 || !time.Now().Before(deadline) {
				break
			}
			if !waitSaid {
				fmt.Fprintf(a.Stderr, "waiting up to %v for new messages...\n", wait.Round(time.Millisecond))
				waitSaid = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(min(inboxPoll, time.Until(deadline))):
			}
			if ctx.Err() != nil {
				break
			}
		}
		if a.jsonOut {
			if entries == nil {
				entries = []inboxEntry{}
			}
			if err := a.printJSON(entries); err != nil {
				return err // nothing acked: every message stays queued
			}
			// --json prints the whole array at the end, so acks follow it.
			for _, e := range entries {
				if e.Error != "" {
					continue
				}
				if err := s.ack(ctx, e.MessageID); err != nil {
					return fmt.Errorf("acknowledging message %s on mesh %s: %w", e.MessageID, s.mesh.Slug, err)
				}
			}
		} else if len(entries) == 0 {
			fmt.Fprintln(a.Stdout, a.ui().dim.Render("No new messages."))
		}
		if failed > 0 {
			return fmt.Errorf("%d message(s) could not be decrypted and stay queued", failed)
		}
		return nil
	})
}

// ack confirms one delivery and waits for the broker's ok, so the row is
// marked delivered before this one-shot process closes its socket.
func (s *meshSession) ack(ctx context.Context, messageID string) error {
	return s.request(ctx, map[string]any{"type": protocol.TypeClientAck, "messageId": messageID}, protocol.TypeOK, nil)
}

func (a *App) printInboxEntry(e inboxEntry) {
	u := a.ui()
	when := e.SentAt
	if t, err := time.Parse(time.RFC3339Nano, e.SentAt); err == nil {
		when = t.Local().Format("2006-01-02 15:04:05")
	}
	kind := e.Kind
	if e.Group != "" {
		kind += " @" + e.Group
	}
	fmt.Fprintf(a.Stdout, "%s  %s  %s\n", u.dim.Render(when), u.title.Render(termSafe(e.From)), u.dim.Render(fmt.Sprintf("%s · %s · %s", kind, e.Priority, e.MessageID)))
	if e.Error != "" {
		fmt.Fprintf(a.Stdout, "  %s %s\n\n", u.bad.Render("undecryptable:"), e.Error)
		return
	}
	for _, line := range strings.Split(termSafe(e.Text), "\n") {
		fmt.Fprintf(a.Stdout, "  %s\n", line)
	}
	fmt.Fprintln(a.Stdout)
}
