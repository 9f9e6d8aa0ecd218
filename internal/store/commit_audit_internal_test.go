package store

import "testing"

// TestMessageSentDetailsMatchCanonical: the hand-written details are byte
// for byte what the general encoder makes of the same map, including the
// fallback for strings that need escaping.
func TestMessageSentDetailsMatchCanonical(t *testing.T) {
	for _, c := range []struct {
		id, priority string
		recipients   int
		size         int
	}{
		{"msg_01JABCDEF", "now", 1, 80},
		{"msg_x", "low", 0, 0},
		{`quote"d`, "next", 500, 1 << 20},
		{"tab\there", "now", 3, 7},
		{"<html>&", "now", 2, 9},
		{"ünïcode", "now", 2, 9},
	} {
		want, err := canonicalDetails(map[string]any{"message_id": c.id, "priority": c.priority,
			"recipients": c.recipients, "size_bytes": c.size})
		if err != nil {
			t.Fatal(err)
		}
		if got := messageSentDetails(c.id, c.priority, c.recipients, c.size); got != want {
			t.Errorf("%q: got %s, want %s", c.id, got, want)
		}
	}
}
