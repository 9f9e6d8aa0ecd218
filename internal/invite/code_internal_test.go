package invite

import (
	"bytes"
	"testing"
)

func TestNewCodeRejectsBiasedBytes(t *testing.T) {
	// 248..255 must be skipped; 0 -> '0', 61 -> 'z', 62 -> '0' again.
	src := bytes.NewReader(append([]byte{248, 255, 0, 61, 62, 250, 1, 2, 3, 4, 5, 9, 9, 9, 9, 9}, make([]byte, 16)...))
	got, err := newCode(src)
	if err != nil {
		t.Fatal(err)
	}
	if got != "0z012345" {
		t.Fatalf("code = %q, want 0z012345", got)
	}
}

func TestNewCodeShapeAndSpread(t *testing.T) {
	seen := map[byte]int{}
	codes := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if !IsCode(c) {
			t.Fatalf("bad code %q", c)
		}
		codes[c] = true
		for j := 0; j < len(c); j++ {
			seen[c[j]]++
		}
	}
	if len(codes) != 2000 {
		t.Fatalf("%d distinct codes of 2000", len(codes))
	}
	if len(seen) != 62 {
		t.Fatalf("%d distinct characters seen, want all 62", len(seen))
	}
	for _, bad := range []string{"", "abc", "abcdefg!", "abcdefghi"} {
		if IsCode(bad) {
			t.Errorf("IsCode(%q) = true", bad)
		}
	}
}
