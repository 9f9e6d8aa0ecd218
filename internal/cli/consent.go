package cli

import (
	"bufio"
	"fmt"
	"strings"
	"time"
)

// card is what the consent card shows before a join (invites.md §3).
type card struct {
	mesh, slug, inviter, role, broker string
	members, online                   int // members < 0: unknown (a v1 link)
	expiresAt                         int64
	fpChecked                         bool
	v1                                bool
}

// consentCard prints the same facts and promises as the broker's consent
// page, so the terminal and the browser tell the joiner the same thing.
func (a *App) consentCard(c card) {
	u := a.ui()
	w := a.Stdout
	c.mesh, c.slug, c.inviter, c.broker = termSafe(c.mesh), termSafe(c.slug), termSafe(c.inviter), termSafe(c.broker)
	fmt.Fprintf(w, "%s %s\n", u.title.Render("Invitation to"), u.accent.Render(c.mesh))
	row := func(k, v string) { fmt.Fprintf(w, "  %-11s %s\n", k, v) }
	if c.slug != "" && c.slug != c.mesh {
		row("mesh", c.slug)
	}
	if c.inviter != "" {
		row("invited by", c.inviter)
	}
	row("role", titleRole(c.role))
	if c.members >= 0 {
		row("members", fmt.Sprintf("%s, %d online now", plural(c.members, "member"), c.online))
	}
	row("expires", fmtTime(c.expiresAt)+" ("+untilText(time.Until(time.Unix(c.expiresAt, 0)))+")")
	row("broker", c.broker)
	if c.fpChecked {
		row("owner key", u.ok.Render("matches the link's fingerprint"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  Your Claude Code sessions will exchange messages with this mesh's other members.")
	fmt.Fprintln(w, "  "+u.dim.Render("The broker sees who is connected, when, and message sizes. It cannot read messages: they are end-to-end encrypted."))
	if c.v1 {
		fmt.Fprintln(w, "  "+u.bad.Render("This is a deprecated v1 link: it carries the mesh key itself, so anyone who saw it can read the mesh."))
	} else {
		fmt.Fprintln(w, "  "+u.dim.Render("Your CLI receives the mesh key sealed to a key only it holds. The link contains no secret."))
	}
	fmt.Fprintln(w, "  "+u.dim.Render("Messages from other members are untrusted text; your session never has to obey them."))
	fmt.Fprintln(w)
}

// confirm asks a yes/no question on stdin; only "y" or "yes" is a yes, and
// no answer at all (EOF) is a no.
func (a *App) confirm(prompt string) bool {
	fmt.Fprint(a.Stdout, prompt)
	line, _ := bufio.NewReader(a.Stdin).ReadString('\n')
	if !isTerminal(a.Stdin) { // a piped answer is not echoed: end the prompt's line
		fmt.Fprintln(a.Stdout)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// titleRole is the role as the prompt names it: Member, Admin.
func titleRole(role string) string {
	if role == "" {
		return role
	}
	return strings.ToUpper(role[:1]) + role[1:]
}

func fmtTime(unix int64) string { return time.Unix(unix, 0).Local().Format("2006-01-02 15:04 MST") }

// untilText is a coarse "in 6 days" for the card.
func untilText(d time.Duration) string {
	switch {
	case d <= 0:
		return "expired"
	case d < time.Hour:
		return fmt.Sprintf("in %d min", int(d.Minutes())+1)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %d h", int(d.Hours()))
	}
	return fmt.Sprintf("in %d days", int(d.Hours()/24))
}
