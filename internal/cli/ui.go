package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// ui styles output for one writer: colour only on a terminal and only when
// NO_COLOR is unset (lipgloss's renderer checks both).
type ui struct {
	r       *lipgloss.Renderer
	title   lipgloss.Style
	ok      lipgloss.Style
	bad     lipgloss.Style
	dim     lipgloss.Style
	accent  lipgloss.Style
	command lipgloss.Style
}

func (a *App) ui() *ui { return newUI(a.Stdout) }

func (a *App) errUI() *ui { return newUI(a.Stderr) }

func newUI(w io.Writer) *ui {
	r := lipgloss.NewRenderer(w)
	return &ui{
		r:       r,
		title:   r.NewStyle().Bold(true),
		ok:      r.NewStyle().Foreground(lipgloss.Color("2")),
		bad:     r.NewStyle().Foreground(lipgloss.Color("1")),
		dim:     r.NewStyle().Faint(true),
		accent:  r.NewStyle().Foreground(lipgloss.Color("6")).Bold(true),
		command: r.NewStyle().Foreground(lipgloss.Color("5")),
	}
}

// errorLine is the one line printed for a failed command.
func (u *ui) errorLine(err error) string {
	var ue usageError
	if errors.As(err, &ue) {
		return "claudemesh: " + err.Error()
	}
	return u.bad.Render("claudemesh: ") + err.Error()
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printJSON writes v as indented JSON, the --json form of every listing.
func (a *App) printJSON(v any) error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table prints rows under a header with columns padded to their widest
// cell. Cells may carry styling: widths count visible characters.
func (u *ui) table(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = lipgloss.Width(h)
	}
	for _, row := range rows {
		for i, c := range row {
			if i < len(widths) && lipgloss.Width(c) > widths[i] {
				widths[i] = lipgloss.Width(c)
			}
		}
	}
	line := func(cells []string, style func(string) string) {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(style(c))
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-lipgloss.Width(c)))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(header, func(s string) string { return u.dim.Render(s) })
	for _, row := range rows {
		line(row, func(s string) string { return s })
	}
}

// nextStep prints the one command the user should run next.
func (u *ui) nextStep(w io.Writer, what, command string) {
	fmt.Fprintf(w, "%s %s\n  %s\n", u.accent.Render("Next:"), what, u.command.Render(command))
}

// termSafe makes text from the broker or other members safe to print on a
// terminal: control characters (ESC, CR, OSC...) other than newline and tab
// are shown escaped, so a name or message cannot rewrite what the screen
// shows or reach the terminal's clipboard. --json output is not touched.
func termSafe(s string) string {
	if !strings.ContainsFunc(s, isUnsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isUnsafeRune(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isUnsafeRune(r rune) bool {
	return r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0))
}
