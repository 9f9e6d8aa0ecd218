package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxAnswer bounds one typed answer; the rest of a longer line is dropped.
const maxAnswer = 4096

// errInterrupted is Ctrl-C at a launch prompt.
var errInterrupted = errors.New("interrupted")

// prompter asks launch's questions on out and reads the answers from in.
// It reads one byte at a time so it never takes more than the answers: the
// rest of stdin is left for Claude Code. After EOF every question takes its
// default without being asked.
type prompter struct {
	ctx  context.Context // Ctrl-C (Main's signal context) ends a prompt
	in   io.Reader
	out  io.Writer
	echo bool // in is a terminal, which echoes the answer and its newline
	eof  bool
}

// line reads one answer. ok is false at EOF with nothing typed.
func (p *prompter) line() (answer string, ok bool, err error) {
	type result struct {
		s   string
		eof bool
	}
	got := make(chan result, 1)
	go func() { // a goroutine so that Ctrl-C can end a blocked read
		var b []byte
		var one [1]byte
		for {
			n, err := p.in.Read(one[:])
			if n == 1 && one[0] == '\n' {
				got <- result{s: string(b)}
				return
			}
			if n == 1 && len(b) < maxAnswer {
				b = append(b, one[0])
			}
			if err != nil {
				got <- result{s: string(b), eof: true}
				return
			}
		}
	}()
	select {
	case r := <-got:
		if !p.echo {
			fmt.Fprintln(p.out) // a piped answer is not echoed: end the prompt's line
		}
		p.eof = r.eof
		return strings.TrimSpace(r.s), !r.eof || r.s != "", nil
	case <-p.ctx.Done():
		fmt.Fprintln(p.out)
		return "", false, errInterrupted
	}
}

// ask asks until the answer passes check; an empty answer or EOF is def.
// hint follows the question in brackets (the default, or what empty means).
func (p *prompter) ask(question, hint, def string, check func(string) error) (string, error) {
	for !p.eof {
		fmt.Fprintf(p.out, "%s [%s]: ", question, hint)
		ans, ok, err := p.line()
		if err != nil {
			return "", err
		}
		if !ok || ans == "" {
			return def, nil
		}
		if err := check(ans); err != nil {
			fmt.Fprintf(p.out, "  %v\n", err)
			continue
		}
		return ans, nil
	}
	return def, nil
}
