package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/mail"
	"github.com/claudemesh/claudemesh/internal/mail/mailtest"
)

func TestNewSMTPSettings(t *testing.T) {
	for _, c := range []struct {
		url, from string
		ok        bool
	}{
		{"", "", true}, // not configured
		{"smtp://user:pw@mail.example.com:2525", "b@example.com", true},
		{"smtps://mail.example.com", "Broker <b@example.com>", true},
		{"http://mail.example.com", "b@example.com", false},
		{"smtp://mail.example.com", "", false},
		{"smtp://", "b@example.com", false},
	} {
		s, err := mail.NewSMTP(c.url, c.from)
		if (err == nil) != c.ok {
			t.Errorf("NewSMTP(%q, %q) error %v, want ok=%v", c.url, c.from, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error echoes the password: %v", err)
		}
		if c.url == "" && s != nil {
			t.Error("an empty SMTP_URL configured a sender")
		}
	}
}

func TestSendDeliversBothParts(t *testing.T) {
	sink := mailtest.Start(t)
	s, err := mail.NewSMTP(sink.URL(), "broker@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := mail.Message{To: "dana@example.com", Subject: "Join “ops”\nBcc: x@evil.example", Text: "line one\n.dot line\nhttp://h/i/abc",
		HTML: "<p>http://h/i/abc</p>"}
	if err := s.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	got := sink.Wait(t, 1, 5*time.Second)[0]
	if got.To != "dana@example.com" || got.From != "broker@example.com" {
		t.Fatalf("envelope %q -> %q", got.From, got.To)
	}
	for _, want := range []string{"multipart/alternative", "text/plain; charset=utf-8", "text/html; charset=utf-8",
		"line one\r\n.dot line\r\n", "<p>http://h/i/abc</p>"} {
		if !strings.Contains(got.Data, want) {
			t.Errorf("mail lacks %q:\n%s", want, got.Data)
		}
	}
	if strings.Contains(got.Data, "\r\nBcc:") {
		t.Error("a newline in the subject injected a header")
	}
	if err := s.Send(ctx, mail.Message{To: "not an address"}); err == nil {
		t.Error("a bad recipient was accepted")
	}
}
