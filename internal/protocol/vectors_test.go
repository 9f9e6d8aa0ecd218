package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/nacl/box"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// The vectors were produced by libsodium itself (spec/vectors). Reproducing
// them byte for byte is what proves an existing TypeScript client can talk
// to us.

type vecIdentity struct {
	SeedHex         string `json:"seed_hex"`
	PubkeyHex       string `json:"ed25519_pubkey_hex"`
	SecretKeyHex    string `json:"ed25519_secret_key_hex"`
	X25519PubHex    string `json:"x25519_pubkey_from_ed25519_hex"`
	X25519SecretHex string `json:"x25519_secret_from_ed25519_hex"`
}

type vecFile struct {
	Identities map[string]vecIdentity     `json:"identities"`
	Vectors    map[string]json.RawMessage `json:"vectors"`
}

func vecLoad(t *testing.T) vecFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "libsodium-vectors.json"))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var f vecFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	return f
}

// vecGet decodes one named vector strictly, so a field added to the spec
// file fails here until a test covers it.
func vecGet(t *testing.T, f vecFile, name string, into any) {
	t.Helper()
	raw, ok := f.Vectors[name]
	if !ok {
		t.Fatalf("vector %q missing", name)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("vector %q: %v", name, err)
	}
}

func vecHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vector: %v", err)
	}
	return b
}

func vecKey(t *testing.T, f vecFile, who string) ed25519.PrivateKey {
	t.Helper()
	id, ok := f.Identities[who]
	if !ok {
		t.Fatalf("identity %q missing", who)
	}
	priv, err := protocol.ParseSecretKeyHex(id.SecretKeyHex)
	if err != nil {
		t.Fatalf("identity %q: %v", who, err)
	}
	return priv
}

// Every vector must be reproduced somewhere. The invite ones live in
// internal/invite; listing them here makes a newly added vector fail loudly.
func TestVectorsAllCovered(t *testing.T) {
	f := vecLoad(t)
	covered := map[string]bool{
		"hello": true, "direct_box": true, "secretbox": true, "sealed_root_key": true,
		"invite_v1": true, "invite_v2": true, // internal/invite/v1_test.go
	}
	var names []string
	for name := range f.Vectors {
		names = append(names, name)
		if !covered[name] {
			t.Errorf("vector %q has no test", name)
		}
	}
	sort.Strings(names)
	if len(names) != len(covered) {
		t.Errorf("vectors = %v, want the %d covered ones", names, len(covered))
	}
	if len(f.Identities) != 3 {
		t.Errorf("identities = %d, want 3 (alice, bob, owner)", len(f.Identities))
	}
}

func TestVectorIdentities(t *testing.T) {
	f := vecLoad(t)
	for name, id := range f.Identities {
		t.Run(name, func(t *testing.T) {
			priv := ed25519.NewKeyFromSeed(vecHex(t, id.SeedHex))
			if got := hex.EncodeToString(priv.Public().(ed25519.PublicKey)); got != id.PubkeyHex {
				t.Errorf("pubkey from seed = %s, want %s", got, id.PubkeyHex)
			}
			if got := hex.EncodeToString(priv); got != id.SecretKeyHex {
				t.Errorf("secret key = %s, want %s", got, id.SecretKeyHex)
			}
			parsed, err := protocol.ParseSecretKeyHex(id.SecretKeyHex)
			if err != nil || !parsed.Equal(priv) {
				t.Errorf("ParseSecretKeyHex = %x, %v", parsed, err)
			}
			pub, err := protocol.ParsePublicKeyHex(id.PubkeyHex)
			if err != nil {
				t.Fatalf("ParsePublicKeyHex: %v", err)
			}
			xpub, err := protocol.X25519PublicFromEd25519(pub)
			if err != nil {
				t.Fatalf("X25519PublicFromEd25519: %v", err)
			}
			if got := hex.EncodeToString(xpub[:]); got != id.X25519PubHex {
				t.Errorf("x25519 pub = %s, want %s", got, id.X25519PubHex)
			}
			xsec := protocol.X25519SecretFromEd25519(priv)
			if got := hex.EncodeToString(xsec[:]); got != id.X25519SecretHex {
				t.Errorf("x25519 secret = %s, want %s", got, id.X25519SecretHex)
			}
		})
	}
}

func TestVectorHello(t *testing.T) {
	f := vecLoad(t)
	var v struct {
		MeshID       string `json:"meshId"`
		MemberID     string `json:"memberId"`
		Pubkey       string `json:"pubkey"`
		Timestamp    int64  `json:"timestamp"`
		Canonical    string `json:"canonical"`
		SignatureHex string `json:"signature_hex"`
	}
	vecGet(t, f, "hello", &v)

	canon := protocol.HelloCanonical(v.MeshID, v.MemberID, v.Pubkey, v.Timestamp)
	if canon != v.Canonical {
		t.Fatalf("canonical = %q, want %q", canon, v.Canonical)
	}
	if got := protocol.SignHex(vecKey(t, f, "alice"), canon); got != v.SignatureHex {
		t.Errorf("signature = %s, want %s", got, v.SignatureHex)
	}
	if !protocol.VerifyHex(v.Pubkey, canon, v.SignatureHex) {
		t.Error("VerifyHex rejected the vector signature")
	}
	if protocol.VerifyHex(v.Pubkey, canon+"0", v.SignatureHex) {
		t.Error("VerifyHex accepted the signature over a different message")
	}
}

func TestVectorDirectBox(t *testing.T) {
	f := vecLoad(t)
	var v struct {
		From          string `json:"from"`
		To            string `json:"to"`
		PlaintextUTF8 string `json:"plaintext_utf8"`
		NonceB64      string `json:"nonce_b64"`
		CiphertextB64 string `json:"ciphertext_b64"`
		Note          string `json:"note"`
	}
	vecGet(t, f, "direct_box", &v)
	from, to := vecKey(t, f, v.From), vecKey(t, f, v.To)

	nonceBytes, err := base64.StdEncoding.DecodeString(v.NonceB64)
	if err != nil || len(nonceBytes) != protocol.NonceSize {
		t.Fatalf("vector nonce: %v (len %d)", err, len(nonceBytes))
	}
	var nonce [protocol.NonceSize]byte
	copy(nonce[:], nonceBytes)

	n, ct, err := protocol.SealBoxWithNonce([]byte(v.PlaintextUTF8), to.Public().(ed25519.PublicKey), from, &nonce)
	if err != nil {
		t.Fatalf("SealBoxWithNonce: %v", err)
	}
	if n != v.NonceB64 || ct != v.CiphertextB64 {
		t.Errorf("sealed = (%s, %s), want (%s, %s)", n, ct, v.NonceB64, v.CiphertextB64)
	}

	// Bob opens what Alice sent.
	pt, err := protocol.OpenBox(v.NonceB64, v.CiphertextB64, from.Public().(ed25519.PublicKey), to)
	if err != nil {
		t.Fatalf("OpenBox: %v", err)
	}
	if string(pt) != v.PlaintextUTF8 {
		t.Errorf("opened %q, want %q", pt, v.PlaintextUTF8)
	}
}

func TestVectorSecretbox(t *testing.T) {
	f := vecLoad(t)
	var v struct {
		KeyHex        string `json:"key_hex"`
		NonceB64      string `json:"nonce_b64"`
		PlaintextUTF8 string `json:"plaintext_utf8"`
		CiphertextB64 string `json:"ciphertext_b64"`
	}
	vecGet(t, f, "secretbox", &v)
	var key [32]byte
	copy(key[:], vecHex(t, v.KeyHex))
	var nonce [protocol.NonceSize]byte
	nb, _ := base64.StdEncoding.DecodeString(v.NonceB64)
	copy(nonce[:], nb)

	n, ct, err := protocol.SealSecretboxWithNonce([]byte(v.PlaintextUTF8), &key, &nonce)
	if err != nil {
		t.Fatalf("SealSecretboxWithNonce: %v", err)
	}
	if n != v.NonceB64 || ct != v.CiphertextB64 {
		t.Errorf("sealed = (%s, %s), want (%s, %s)", n, ct, v.NonceB64, v.CiphertextB64)
	}
	pt, err := protocol.OpenSecretbox(v.NonceB64, v.CiphertextB64, &key)
	if err != nil || string(pt) != v.PlaintextUTF8 {
		t.Errorf("OpenSecretbox = %q, %v", pt, err)
	}
}

func TestVectorSealedRootKey(t *testing.T) {
	f := vecLoad(t)
	var v struct {
		RecipientPubB64url string `json:"recipient_x25519_pubkey_b64url"`
		RecipientSecretHex string `json:"recipient_x25519_secret_hex"`
		RootKeyB64url      string `json:"root_key_b64url"`
		SealedB64url       string `json:"sealed_b64url"`
		Note               string `json:"note"`
	}
	vecGet(t, f, "sealed_root_key", &v)
	pubBytes, err := protocol.DecodeB64URL(v.RecipientPubB64url)
	if err != nil || len(pubBytes) != 32 {
		t.Fatalf("recipient pubkey: %v (len %d)", err, len(pubBytes))
	}
	var pub, priv [32]byte
	copy(pub[:], pubBytes)
	copy(priv[:], vecHex(t, v.RecipientSecretHex))
	want, err := protocol.DecodeB64URL(v.RootKeyB64url)
	if err != nil {
		t.Fatal(err)
	}

	// crypto_box_seal is randomized: open the vector, then round-trip ours.
	got, err := protocol.OpenRootKey(v.SealedB64url, &pub, &priv)
	if err != nil {
		t.Fatalf("OpenRootKey(vector): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("root key = %x, want %x", got, want)
	}
	if protocol.EncodeB64URL(got) != v.RootKeyB64url {
		t.Errorf("re-encoded root key = %s, want %s", protocol.EncodeB64URL(got), v.RootKeyB64url)
	}

	sealed, err := protocol.SealRootKey(want, &pub)
	if err != nil {
		t.Fatalf("SealRootKey: %v", err)
	}
	if strings.ContainsAny(sealed, "=+/") {
		t.Errorf("sealed %q is not unpadded base64url", sealed)
	}
	again, err := protocol.OpenRootKey(sealed, &pub, &priv)
	if err != nil || !bytes.Equal(again, want) {
		t.Errorf("round trip = %x, %v", again, err)
	}
}

// MeshMessageKey has no libsodium vector (it is our v2 extension), so its
// value is pinned from an independent HKDF (Python's hmac/hashlib):
// HMAC-SHA256(HMAC-SHA256(zeros32, root), info||0x01).
func TestMeshMessageKeyKnownAnswer(t *testing.T) {
	root := bytes.Repeat([]byte{0x5a}, 32) // the vectors' root key
	k, err := protocol.MeshMessageKey(root, "mesh_0001")
	if err != nil {
		t.Fatal(err)
	}
	const want = "e21a9ce53613bc38eeb49c3d3249e10ecc9e73af8165adafb4a88f9beec0d14c"
	if got := hex.EncodeToString(k[:]); got != want {
		t.Errorf("mesh key = %s, want %s", got, want)
	}
	other, _ := protocol.MeshMessageKey(root, "mesh_0002")
	if *other == *k {
		t.Error("different meshes derived the same key")
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := protocol.MeshMessageKey(make([]byte, n), "m"); err == nil {
			t.Errorf("root key of %d bytes accepted", n)
		}
	}
}

func TestCanonicalStrings(t *testing.T) {
	const ts = int64(1767225600000)
	tests := []struct{ got, want string }{
		{protocol.HelloCanonical("m", "u", "pk", ts), "m|u|pk|1767225600000"},
		{protocol.SessionCanonical("m", "u", "pk", "spk", ts), "claudemesh-session|m|u|pk|spk|1767225600000"},
		{protocol.HookCanonical("m", "u", "s", "idle", ts), "claudemesh-hook|m|u|s|idle|1767225600000"},
		{protocol.CreateMeshCanonical("Platform", "opk", "ppk", ts), "claudemesh-create-mesh|Platform|opk|ppk|1767225600000"},
		{protocol.ClaimCanonical("AbCd1234", "x25519", "ppk", ts), "claudemesh-claim|AbCd1234|x25519|ppk|1767225600000"},
		{protocol.HelloCanonical("m", "u", "pk", -5), "m|u|pk|-5"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestRoundTripsWithRandomNonces(t *testing.T) {
	f := vecLoad(t)
	alice, bob := vecKey(t, f, "alice"), vecKey(t, f, "bob")
	msg := []byte("round trip ✓")

	n1, c1, err := protocol.SealBox(msg, bob.Public().(ed25519.PublicKey), alice)
	if err != nil {
		t.Fatal(err)
	}
	n2, _, _ := protocol.SealBox(msg, bob.Public().(ed25519.PublicKey), alice)
	if n1 == n2 {
		t.Error("two SealBox calls reused a nonce")
	}
	if pt, err := protocol.OpenBox(n1, c1, alice.Public().(ed25519.PublicKey), bob); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("OpenBox = %q, %v", pt, err)
	}

	key, _ := protocol.MeshMessageKey(bytes.Repeat([]byte{1}, 32), "mesh")
	n, c, err := protocol.SealSecretbox(msg, key)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := protocol.OpenSecretbox(n, c, key); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("OpenSecretbox = %q, %v", pt, err)
	}

	if pt, err := protocol.DecodePlain(protocol.EncodePlain(msg)); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("plain round trip = %q, %v", pt, err)
	}
	if _, err := protocol.DecodePlain("not base64!"); !errors.Is(err, protocol.ErrEncoding) {
		t.Errorf("DecodePlain(garbage) err = %v, want ErrEncoding", err)
	}

	pub, priv, err := protocol.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, 32)
	_, _ = rand.Read(root)
	sealed, err := protocol.SealRootKey(root, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := protocol.OpenRootKey(sealed, pub, priv); err != nil || !bytes.Equal(got, root) {
		t.Errorf("OpenRootKey = %x, %v", got, err)
	}
}

// flipB64 decodes std base64, flips one bit at byte i, re-encodes.
func flipB64(t *testing.T, s string, i int) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	b[i%len(b)] ^= 0x01
	return base64.StdEncoding.EncodeToString(b)
}

func TestOpenBoxFailures(t *testing.T) {
	f := vecLoad(t)
	alice, bob, owner := vecKey(t, f, "alice"), vecKey(t, f, "bob"), vecKey(t, f, "owner")
	alicePub := alice.Public().(ed25519.PublicKey)
	n, c, err := protocol.SealBox([]byte("secret"), bob.Public().(ed25519.PublicKey), alice)
	if err != nil {
		t.Fatal(err)
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 15))

	tests := []struct {
		name      string
		nonce, ct string
		sender    ed25519.PublicKey
		recipient ed25519.PrivateKey
		want      error
		mention   string
	}{
		{"tampered ciphertext", n, flipB64(t, c, 20), alicePub, bob, protocol.ErrDecrypt, ""},
		{"tampered tag", n, flipB64(t, c, 0), alicePub, bob, protocol.ErrDecrypt, ""},
		{"tampered nonce", flipB64(t, n, 3), c, alicePub, bob, protocol.ErrDecrypt, ""},
		{"wrong recipient key", n, c, alicePub, owner, protocol.ErrDecrypt, ""},
		{"wrong sender key", n, c, owner.Public().(ed25519.PublicKey), bob, protocol.ErrDecrypt, ""},
		{"truncated below tag", n, short, alicePub, bob, protocol.ErrDecrypt, ""},
		{"nonce not base64", "!!!!", c, alicePub, bob, protocol.ErrEncoding, "nonce"},
		{"nonce wrong length", base64.StdEncoding.EncodeToString(make([]byte, 12)), c, alicePub, bob, protocol.ErrEncoding, "nonce"},
		{"ciphertext not base64", n, "***", alicePub, bob, protocol.ErrEncoding, "ciphertext"},
		{"ciphertext unpadded", n, strings.TrimRight(c, "="), alicePub, bob, protocol.ErrEncoding, "ciphertext"},
		{"ciphertext with newline", n, c[:8] + "\n" + c[8:], alicePub, bob, protocol.ErrEncoding, "ciphertext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := protocol.OpenBox(tt.nonce, tt.ct, tt.sender, tt.recipient)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if pt != nil {
				t.Errorf("returned plaintext %q alongside an error", pt)
			}
			if tt.want == protocol.ErrEncoding && errors.Is(err, protocol.ErrDecrypt) {
				t.Errorf("encoding error %v also claims ErrDecrypt", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err %q does not name %q", err, tt.mention)
			}
		})
	}
	if _, err := protocol.OpenBox(n, c, alicePub, bob[:10]); err == nil {
		t.Error("short recipient key accepted")
	}
}

func TestOpenSecretboxFailures(t *testing.T) {
	key, _ := protocol.MeshMessageKey(bytes.Repeat([]byte{7}, 32), "mesh_a")
	otherKey, _ := protocol.MeshMessageKey(bytes.Repeat([]byte{7}, 32), "mesh_b")
	n, c, err := protocol.SealSecretbox([]byte("group"), key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		nonce, ct string
		key       *[32]byte
		want      error
	}{
		{"tampered ciphertext", n, flipB64(t, c, 17), key, protocol.ErrDecrypt},
		{"other mesh key", n, c, otherKey, protocol.ErrDecrypt},
		{"empty ciphertext", n, "", key, protocol.ErrDecrypt},
		{"nonce not base64", "@@", c, key, protocol.ErrEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := protocol.OpenSecretbox(tt.nonce, tt.ct, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := protocol.OpenSecretbox(n, c, nil); err == nil {
		t.Error("nil key accepted")
	}
}

func TestRootKeyFailures(t *testing.T) {
	pub, priv, _ := protocol.GenerateX25519()
	otherPub, otherPriv, _ := protocol.GenerateX25519()
	root := bytes.Repeat([]byte{0x5a}, 32)
	sealed, err := protocol.SealRootKey(root, pub)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed seal of 31 bytes: authentic, but not a root key.
	short, _ := box.SealAnonymous(nil, root[:31], pub, rand.Reader)
	raw, _ := protocol.DecodeB64URL(sealed)
	raw[len(raw)-1] ^= 1

	tests := []struct {
		name      string
		sealed    string
		pub, priv *[32]byte
		want      error
	}{
		{"wrong key pair", sealed, otherPub, otherPriv, protocol.ErrDecrypt},
		{"tampered", protocol.EncodeB64URL(raw), pub, priv, protocol.ErrDecrypt},
		{"31-byte key", protocol.EncodeB64URL(short), pub, priv, protocol.ErrDecrypt},
		{"padded", sealed + "=", pub, priv, protocol.ErrEncoding},
		{"std alphabet", base64.RawStdEncoding.EncodeToString(raw) + "+/", pub, priv, protocol.ErrEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := protocol.OpenRootKey(tt.sealed, tt.pub, tt.priv); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}

	var zero [32]byte // a low-order X25519 point: sealing to it exposes the key
	if _, err := protocol.SealRootKey(root, &zero); err == nil {
		t.Error("SealRootKey accepted a low-order recipient")
	}
	if _, err := protocol.SealRootKey(root[:16], pub); err == nil {
		t.Error("SealRootKey accepted a 16-byte root key")
	}
}

func TestDecodeB64URL(t *testing.T) {
	const good = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo" // 32 x 0x5a
	if b, err := protocol.DecodeB64URL(good); err != nil || len(b) != 32 {
		t.Fatalf("good input: %x, %v", b, err)
	}
	tests := []struct{ name, in, mention string }{
		{"padded", good + "=", "padded"},
		{"std alphabet plus", "ab+d", "standard base64"},
		{"std alphabet slash", "ab/d", "standard base64"},
		{"line break", good[:10] + "\n" + good[10:], "line break"},
		{"non-zero trailing bits", good[:42] + "p", "base64url"},
		{"illegal char", "abc$", "base64url"},
		{"impossible length", "a", "base64url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := protocol.DecodeB64URL(tt.in)
			if !errors.Is(err, protocol.ErrEncoding) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err = %v, want ErrEncoding mentioning %q", err, tt.mention)
			}
		})
	}
	if got := protocol.EncodeB64URL([]byte{0xfb, 0xff}); got != "-_8" {
		t.Errorf("EncodeB64URL = %q, want -_8", got)
	}
}

func TestX25519PublicRejectsBadPoints(t *testing.T) {
	// Order-8 torsion point, and the base point plus it (mixed order).
	torsion := vecHex(t, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	tp, err := new(edwards25519.Point).SetBytes(torsion)
	if err != nil {
		t.Fatal(err)
	}
	mixed := new(edwards25519.Point).Add(edwards25519.NewGeneratorPoint(), tp).Bytes()

	tests := []struct {
		name string
		key  []byte
	}{
		{"not on curve (y=2)", vecHex(t, "0200000000000000000000000000000000000000000000000000000000000000")},
		{"identity", vecHex(t, "0100000000000000000000000000000000000000000000000000000000000000")},
		{"order 2 (y=-1)", vecHex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")},
		{"order 8", torsion},
		{"mixed order", mixed},
		{"non-canonical y=p+3", vecHex(t, "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")},
		{"too short", make([]byte, 31)},
		{"nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := protocol.X25519PublicFromEd25519(tt.key); err == nil {
				t.Errorf("accepted, got %x", k)
			}
		})
	}
	// The same rejection protects the sender: no box to a bad key.
	f := vecLoad(t)
	if _, _, err := protocol.SealBox([]byte("x"), tests[1].key, vecKey(t, f, "alice")); err == nil {
		t.Error("SealBox to the identity point succeeded")
	}
}

func TestHexHelpers(t *testing.T) {
	f := vecLoad(t)
	alice := f.Identities["alice"]
	sig := strings.Repeat("ab", 64)

	keyTests := []struct {
		in   string
		want bool
	}{
		{alice.PubkeyHex, true},
		{strings.ToUpper(alice.PubkeyHex), false},
		{alice.PubkeyHex[:63], false},
		{alice.PubkeyHex + "0", false},
		{strings.Repeat("g", 64), false},
		{"", false},
	}
	for _, tt := range keyTests {
		if got := protocol.IsHexKey(tt.in); got != tt.want {
			t.Errorf("IsHexKey(%q) = %v", tt.in, got)
		}
		if _, err := protocol.ParsePublicKeyHex(tt.in); (err == nil) != tt.want {
			t.Errorf("ParsePublicKeyHex(%q) err = %v", tt.in, err)
		}
	}
	if !protocol.IsHexSig(sig) || protocol.IsHexSig(strings.ToUpper(sig)) || protocol.IsHexSig(sig[:126]) {
		t.Error("IsHexSig misjudged a signature")
	}

	// Secret keys: the pubkey half must belong to the seed.
	bob := f.Identities["bob"]
	mismatched := alice.SeedHex + bob.PubkeyHex
	for _, in := range []string{mismatched, strings.ToUpper(alice.SecretKeyHex), alice.SecretKeyHex[:126], alice.SeedHex} {
		if _, err := protocol.ParseSecretKeyHex(in); err == nil {
			t.Errorf("ParseSecretKeyHex(%q...) accepted", in[:16])
		}
	}
}

func TestVerifyHexRejectsMalformed(t *testing.T) {
	f := vecLoad(t)
	alice := vecKey(t, f, "alice")
	pub := hex.EncodeToString(alice.Public().(ed25519.PublicKey))
	sig := protocol.SignHex(alice, "msg")
	if !protocol.VerifyHex(pub, "msg", sig) {
		t.Fatal("good signature rejected")
	}

	// With the identity as public key, R=identity and S=0 satisfy the
	// verification equation for every message. crypto/ed25519 accepts it;
	// VerifyHex must not (libsodium does not either).
	identity := "01" + strings.Repeat("00", 31)
	forged := identity + strings.Repeat("00", 32)
	if !ed25519.Verify(vecHex(t, identity), []byte("anything"), vecHex(t, forged)) {
		t.Log("crypto/ed25519 now rejects small-order keys itself")
	}

	tests := []struct{ name, pub, msg, sig string }{
		{"small-order key forgery", identity, "anything", forged},
		{"uppercase sig", pub, "msg", strings.ToUpper(sig)},
		{"short sig", pub, "msg", sig[:126]},
		{"non-hex sig", pub, "msg", "zz" + sig[2:]},
		{"uppercase pubkey", strings.ToUpper(pub), "msg", sig},
		{"short pubkey", pub[:62], "msg", sig},
		{"empty", "", "", ""},
		{"not a point", "02" + strings.Repeat("00", 31), "msg", sig},
		{"flipped sig bit", pub, "msg", "0" + sig[1:]},
	}
	for _, tt := range tests {
		if tt.name == "flipped sig bit" && sig[0] == '0' {
			tt.sig = "1" + sig[1:]
		}
		t.Run(tt.name, func(t *testing.T) {
			if protocol.VerifyHex(tt.pub, tt.msg, tt.sig) {
				t.Error("accepted")
			}
		})
	}
}
