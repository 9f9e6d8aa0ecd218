package protocol_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// FuzzHelloSignature checks the hello and session canonical strings with
// SignHex/VerifyHex on arbitrary field values: a signature made by the
// member key over the exact canonical string verifies; the same signature
// over any other mesh, member, timestamp or key does not; a signature in
// any other spelling (one hex digit changed, upper case) does not; and
// arbitrary pubkey/signature strings never make VerifyHex panic or accept
// something crypto/ed25519 itself rejects.
func FuzzHelloSignature(f *testing.F) {
	f.Fuzz(func(t *testing.T, seed []byte, meshID, memberID string, ts int64, flip uint8, pubkey, sig string) {
		priv := ed25519.NewKeyFromSeed(seedOf(seed))
		pub := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
		canon := protocol.HelloCanonical(meshID, memberID, pub, ts)
		if want := meshID + "|" + memberID + "|" + pub + "|" + decimal(ts); canon != want {
			t.Fatalf("HelloCanonical = %q, want %q", canon, want)
		}
		good := protocol.SignHex(priv, canon)
		if !protocol.IsHexSig(good) || !protocol.VerifyHex(pub, canon, good) {
			t.Fatalf("a fresh signature does not verify: %s", good)
		}
		// The signature is bound to every field of the canonical string.
		others := []string{
			protocol.HelloCanonical(meshID+"x", memberID, pub, ts),
			protocol.HelloCanonical(meshID, memberID+"x", pub, ts),
			protocol.HelloCanonical(meshID, memberID, pub, ts+1),
			protocol.SessionCanonical(meshID, memberID, pub, pub, ts),
		}
		for _, other := range others {
			if protocol.VerifyHex(pub, other, good) {
				t.Fatalf("signature over %q also verifies %q", canon, other)
			}
		}
		// One changed hex digit, or upper case, is a different signature.
		i := int(flip) % len(good)
		mutated := good[:i] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", good[i])+1)%16]) + good[i+1:]
		if protocol.VerifyHex(pub, canon, mutated) {
			t.Fatalf("signature with digit %d changed still verifies", i)
		}
		if upper := strings.ToUpper(good); upper != good && protocol.VerifyHex(pub, canon, upper) {
			t.Fatal("an upper-case signature verifies; only lowercase hex is accepted")
		}
		if upper := strings.ToUpper(pub); upper != pub && protocol.VerifyHex(upper, canon, good) {
			t.Fatal("an upper-case pubkey verifies; only lowercase hex is accepted")
		}
		// Arbitrary strings: VerifyHex accepts only what ed25519 accepts.
		if protocol.VerifyHex(pubkey, canon, sig) {
			pk, err1 := hex.DecodeString(pubkey)
			sg, err2 := hex.DecodeString(sig)
			if err1 != nil || err2 != nil || len(pk) != 32 || len(sg) != 64 || !ed25519.Verify(pk, []byte(canon), sg) ||
				pubkey != strings.ToLower(pubkey) || sig != strings.ToLower(sig) {
				t.Fatalf("VerifyHex accepted pubkey %q sig %q", pubkey, sig)
			}
		}
		if pubkey != pub && protocol.VerifyHex(pubkey, canon, good) {
			t.Fatalf("signature by %s verifies under another key %q", pub, pubkey)
		}
		if _, err := protocol.ParsePublicKeyHex(pubkey); (err == nil) != protocol.IsHexKey(pubkey) {
			t.Fatalf("ParsePublicKeyHex(%q) = %v, IsHexKey = %v", pubkey, err, protocol.IsHexKey(pubkey))
		}
		// The session proof signs a different, prefixed string: a hello
		// signature can never double as one.
		sessPriv := ed25519.NewKeyFromSeed(seedOf(append([]byte("session"), seed...)))
		sessPub := hex.EncodeToString(sessPriv.Public().(ed25519.PublicKey))
		sessCanon := protocol.SessionCanonical(meshID, memberID, pub, sessPub, ts)
		if !strings.HasPrefix(sessCanon, "claudemesh-session|") {
			t.Fatalf("session canonical %q lacks its prefix", sessCanon)
		}
		proof := protocol.SignHex(sessPriv, sessCanon)
		if !protocol.VerifyHex(sessPub, sessCanon, proof) || protocol.VerifyHex(pub, sessCanon, proof) ||
			protocol.VerifyHex(sessPub, canon, proof) {
			t.Fatal("the session proof is not bound to exactly the session key and session canonical")
		}
	})
}

// seedOf stretches any fuzz bytes into an ed25519 seed.
func seedOf(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func decimal(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	var buf [24]byte
	i := len(buf)
	for n != 0 {
		d := n % 10
		if d < 0 {
			d = -d
		}
		i--
		buf[i] = byte('0' + d)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
