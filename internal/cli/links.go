package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/invite"
)

// inviteRef is what `claudemesh join` was given, parsed but not fetched.
type inviteRef struct {
	Base  string // broker base URL (http/https) the link points at; "" for ic:// links
	Code  string // short code of /i/<code> links and bare codes (a v2 or a short v1 invite)
	FP    string // the #fp fragment, lowercase, when the link carried one
	Token string // v1 token of ic://join/<token> and <base>/join/<token> links
}

// parseInviteRef accepts every link shape invites.md names:
// <base>/i/<code>[#fp], a bare code (broker from defaultBroker),
// ic://join/<token> and <base>/join/<token>. Anything else is a usage error.
func parseInviteRef(arg, defaultBroker string) (inviteRef, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return inviteRef{}, usagef("join needs an invite link or code")
	}
	if invite.IsCode(arg) {
		if defaultBroker == "" {
			return inviteRef{}, usagef("a bare invite code needs the broker: pass --broker URL or set CLAUDEMESH_BROKER_URL (or use the whole link)")
		}
		api, err := brokerapi.New(defaultBroker)
		if err != nil {
			return inviteRef{}, usagef("--broker: %v", err)
		}
		return inviteRef{Base: api.Base, Code: arg}, nil
	}
	u, err := url.Parse(arg)
	if err != nil || u.Scheme == "" {
		return inviteRef{}, usagef("%q is neither an invite link (https://host/i/<code>, ic://join/<token>) nor an 8-character invite code", clip(arg, 60))
	}
	if u.Scheme == "ic" {
		token, err := invite.ParseV1Link(arg)
		if err != nil {
			return inviteRef{}, usagef("%v", err)
		}
		return inviteRef{Token: token}, nil
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return inviteRef{}, usagef("invite link scheme must be https, http or ic, got %q", u.Scheme)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" {
		return inviteRef{}, usagef("invite link %q must look like https://host/i/<code> with no user info or query", clip(arg, 60))
	}
	if _, err := brokerapi.New(u.Scheme + "://" + u.Host); err != nil {
		return inviteRef{}, usagef("%v", err)
	}
	path := u.EscapedPath()
	if i := strings.LastIndex(path, "/join/"); i >= 0 {
		token, err := invite.ParseV1Link(arg)
		if err != nil {
			return inviteRef{}, usagef("%v", err)
		}
		return inviteRef{Base: u.Scheme + "://" + u.Host + path[:i], Token: token}, nil
	}
	i := strings.LastIndex(path, "/i/")
	if i < 0 {
		return inviteRef{}, usagef("invite link %q must end in /i/<code> or /join/<token>", clip(arg, 60))
	}
	ref := inviteRef{Base: u.Scheme + "://" + u.Host + path[:i], Code: path[i+len("/i/"):]}
	if !invite.IsCode(ref.Code) {
		return inviteRef{}, usagef("invite code %q in the link must be %d letters or digits", clip(ref.Code, 20), invite.CodeLen)
	}
	if u.Fragment != "" {
		fp := strings.ToLower(u.Fragment)
		if len(fp) != invite.FingerprintLen || strings.Trim(fp, "0123456789abcdef") != "" {
			return inviteRef{}, usagef("the link's #fragment must be the %d-hex-character owner fingerprint, got %q", invite.FingerprintLen, clip(u.Fragment, 30))
		}
		ref.FP = fp
	}
	return ref, nil
}

// clip shortens user input quoted back in an error.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// v1Base is the HTTP base of a v1 token's ws(s)://host/ws broker URL.
func v1Base(brokerURL string) (string, error) {
	api, err := brokerapi.New(brokerURL)
	if err != nil {
		return "", fmt.Errorf("invite broker_url: %w", err)
	}
	return api.Base, nil
}
