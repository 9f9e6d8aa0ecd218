// Package mailtest is an in-process SMTP sink for tests: it accepts every
// mail and keeps it in memory.
package mailtest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mail is one received message.
type Mail struct {
	From, To string
	Data     string // headers and body as sent, CRLF line ends
}

// Sink is a minimal SMTP server on a random loopback port.
type Sink struct {
	Addr string
	ln   net.Listener
	mu   sync.Mutex
	got  []Mail
}

// Start listens and serves until the test ends.
func Start(t testing.TB) *Sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{Addr: ln.Addr().String(), ln: ln}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

// URL is an SMTP_URL pointing at the sink.
func (s *Sink) URL() string { return "smtp://" + s.Addr }

// Wait returns the first n mails, polling until deadline.
func (s *Sink) Wait(t testing.TB, n int, within time.Duration) []Mail {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s.mu.Lock()
		got := append([]Mail(nil), s.got...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMTP sink: %d mails after %v, want %d", len(got), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Sink) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *Sink) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { c.Write([]byte(line + "\r\n")) }
	say("220 sink ESMTP")
	var m Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = Mail{From: addr(line)}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			m.To = addr(line)
			say("250 ok")
		case cmd == "DATA":
			say("354 end with .")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = data.String()
			s.mu.Lock()
			s.got = append(s.got, m)
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func addr(line string) string {
	i, j := strings.Index(line, "<"), strings.Index(line, ">")
	if i < 0 || j < i {
		return ""
	}
	return line[i+1 : j]
}
