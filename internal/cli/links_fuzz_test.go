package cli

import (
	"strconv"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/invite"
)

// FuzzParseInviteRef feeds arbitrary `claudemesh join` arguments (and
// --broker values) to the link parser. A refusal is always a usage error
// (exit 2). An accepted argument names exactly one invite: a well-formed
// code on an http(s) broker, with at most a 20-hex #fp, or a base64url v1
// token; and the canonical link rebuilt from the result parses back to the
// same thing.
func FuzzParseInviteRef(f *testing.F) {
	f.Fuzz(func(t *testing.T, arg, defaultBroker string) {
		ref, err := parseInviteRef(arg, defaultBroker)
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Fatalf("parseInviteRef(%q) error %v exits %d, want %d", arg, err, ExitCode(err), ExitUsage)
			}
			return
		}
		if (ref.Code == "") == (ref.Token == "") {
			t.Fatalf("parseInviteRef(%q) = %+v: want exactly one of code and token", arg, ref)
		}
		var canonical string
		if ref.Code != "" {
			if !invite.IsCode(ref.Code) {
				t.Fatalf("accepted code %q", ref.Code)
			}
			_, err := brokerapi.New(ref.Base)
			if err != nil || !strings.HasPrefix(ref.Base, "http") {
				t.Fatalf("code %q on broker %q: %v", ref.Code, ref.Base, err)
			}
			if ref.FP != "" && (len(ref.FP) != invite.FingerprintLen || strings.Trim(ref.FP, "0123456789abcdef") != "") {
				t.Fatalf("accepted fingerprint %q", ref.FP)
			}
			canonical = ref.Base + "/i/" + ref.Code
			if ref.FP != "" {
				canonical += "#" + ref.FP
			}
		} else {
			if ref.FP != "" || len(ref.Token) > invite.MaxV1TokenLen ||
				strings.Trim(ref.Token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				t.Fatalf("accepted token ref %+v", ref)
			}
			canonical = "ic://join/" + ref.Token
			if ref.Base != "" {
				if !strings.HasPrefix(ref.Base, "http") {
					t.Fatalf("token on broker %q", ref.Base)
				}
				canonical = ref.Base + "/join/" + ref.Token
			}
		}
		back, err := parseInviteRef(canonical, "")
		if err != nil || back != ref {
			t.Fatalf("parseInviteRef(%q) = %+v; its canonical link %q parses to %+v, %v", arg, ref, canonical, back, err)
		}
	})
}

// FuzzSplitCanonicalV2 checks the parser of the capability string a v2
// claim returns: it accepts exactly the strings V2Canonical can produce,
// and gives back the fields that produce them.
func FuzzSplitCanonicalV2(f *testing.F) {
	f.Fuzz(func(t *testing.T, s, meshID, inviteID, role, owner string, expiresAt int64) {
		if c, err := splitCanonicalV2(s); err == nil {
			if invite.V2Canonical(c.meshID, c.inviteID, c.expiresAt, c.role, c.ownerPubkey) != s {
				t.Fatalf("accepted %q, which is not the canonical form of its fields %+v", s, c)
			}
		}
		built := invite.V2Canonical(meshID, inviteID, expiresAt, role, owner)
		c, err := splitCanonicalV2(built)
		noSeparators := !strings.Contains(meshID+inviteID+role+owner, "|")
		switch {
		case noSeparators && err != nil:
			t.Fatalf("refused V2Canonical(%q, %q, %d, %q, %q): %v", meshID, inviteID, expiresAt, role, owner, err)
		case noSeparators && (c.meshID != meshID || c.inviteID != inviteID || c.expiresAt != expiresAt || c.role != role || c.ownerPubkey != owner):
			t.Fatalf("split %q into %+v", built, c)
		case !noSeparators && err == nil && c.meshID == meshID && c.inviteID == inviteID && c.role == role && c.ownerPubkey == owner:
			t.Fatalf("fields with '|' came back unchanged from %q", built)
		}
		if err == nil && !strings.HasPrefix(built, "v=2|") || err == nil && strconv.FormatInt(c.expiresAt, 10) != strings.Split(built, "|")[3] {
			t.Fatalf("split %q gave expiry %d", built, c.expiresAt)
		}
	})
}
