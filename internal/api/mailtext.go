package api

import (
	"bytes"
	"html/template"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/mail"
)

var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family:sans-serif;color:#1f2328">
<p><strong>{{.Inviter}}</strong> invited you to join the claudemesh mesh <strong>{{.Mesh}}</strong> as <strong>{{.Role}}</strong>.</p>
<p><a href="{{.Link}}">Review the invitation</a> (valid until {{.Expires}}).</p>
<p>Or run: <code>claudemesh join {{.Link}}</code></p>
<p style="color:#656d76">If you did not expect this, ignore this mail.</p>
</body></html>`))

// inviteMail carries the consent link only: the link holds no secret, the
// root key is sealed to the joiner's own key at claim time.
func inviteMail(to, mesh, inviter, role, link string, expires time.Time) mail.Message {
	data := map[string]string{"Inviter": inviter, "Mesh": mesh, "Role": role, "Link": link,
		"Expires": expires.UTC().Format("2 Jan 2006 15:04 UTC")}
	var html bytes.Buffer
	_ = mailHTML.Execute(&html, data)
	text := strings.Join([]string{
		inviter + " invited you to join the claudemesh mesh \"" + mesh + "\" as " + role + ".",
		"",
		"Review the invitation: " + link,
		"Or run: claudemesh join " + link,
		"",
		"The invitation is valid until " + data["Expires"] + ". If you did not expect it, ignore this mail.",
	}, "\n")
	return mail.Message{To: to, Subject: inviter + " invited you to " + mesh + " on claudemesh", Text: text, HTML: html.String()}
}
